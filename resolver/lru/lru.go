// Package lru is the recency list of netmon's bounded tables: a doubly
// linked list threaded by index through the entries of one slice, most
// recently used first, so that a table evicts its least recently used entry
// without a pointer per entry (the garbage collector has nothing to scan).
// The resolver's address table and its flow table (two lists: probation
// and protected) use it.
package lru

// Links is an entry's place in a List: the indexes of its neighbours in
// the entries slice, -1 for none. Entries embed it.
type Links struct {
	Prev, Next int32
}

// Place returns l itself; it lets the functions below reach the Links an
// entry embeds.
func (l *Links) Place() *Links { return l }

// Unlinked is the Links of an entry in no list.
var Unlinked = Links{Prev: -1, Next: -1}

// List is a recency list over one entries slice.
type List struct {
	Head int32 // most recently used, or -1
	Tail int32 // least recently used, or -1
}

// NewList returns an empty list.
func NewList() List { return List{Head: -1, Tail: -1} }

// Linked is a pointer to an entry that embeds Links.
type Linked[E any] interface {
	*E
	Place() *Links
}

// Unlink takes entries[i] out of the list.
func Unlink[E any, P Linked[E]](l *List, entries []E, i int32) {
	e := P(&entries[i]).Place()
	if e.Prev >= 0 {
		P(&entries[e.Prev]).Place().Next = e.Next
	} else {
		l.Head = e.Next
	}
	if e.Next >= 0 {
		P(&entries[e.Next]).Place().Prev = e.Prev
	} else {
		l.Tail = e.Prev
	}
	e.Prev, e.Next = -1, -1
}

// PushFront puts entries[i], not in the list, at its front.
func PushFront[E any, P Linked[E]](l *List, entries []E, i int32) {
	e := P(&entries[i]).Place()
	e.Prev, e.Next = -1, l.Head
	if l.Head >= 0 {
		P(&entries[l.Head]).Place().Prev = i
	}
	l.Head = i
	if l.Tail < 0 {
		l.Tail = i
	}
}

// ToFront moves entries[i], in the list, to its front.
func ToFront[E any, P Linked[E]](l *List, entries []E, i int32) {
	if l.Head == i {
		return
	}
	Unlink[E, P](l, entries, i)
	PushFront[E, P](l, entries, i)
}

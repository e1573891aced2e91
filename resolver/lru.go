package resolver

// lruLinks is an entry's place in an lruList: the indexes of its
// neighbours in the entries slice, -1 for none. Entries embed it.
type lruLinks struct {
	prev, next int32
}

func (l *lruLinks) links() *lruLinks { return l }

// lruList is a recency list threaded by index through the entries of one
// slice, most recently used first, so that a bounded table evicts its
// least recently used entry without a pointer per entry: the name table
// and the learner's flow table both use it.
type lruList struct {
	head int32 // most recently used, or -1
	tail int32 // least recently used, or -1
}

func newLRUList() lruList { return lruList{head: -1, tail: -1} }

// linked is a pointer to an entry that embeds lruLinks.
type linked[E any] interface {
	*E
	links() *lruLinks
}

// lruUnlink takes entries[i] out of the list.
func lruUnlink[E any, P linked[E]](l *lruList, entries []E, i int32) {
	e := P(&entries[i]).links()
	if e.prev >= 0 {
		P(&entries[e.prev]).links().next = e.next
	} else {
		l.head = e.next
	}
	if e.next >= 0 {
		P(&entries[e.next]).links().prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

// lruPushFront puts entries[i], not in the list, at its front.
func lruPushFront[E any, P linked[E]](l *lruList, entries []E, i int32) {
	e := P(&entries[i]).links()
	e.prev, e.next = -1, l.head
	if l.head >= 0 {
		P(&entries[l.head]).links().prev = i
	}
	l.head = i
	if l.tail < 0 {
		l.tail = i
	}
}

// lruToFront moves entries[i], in the list, to its front.
func lruToFront[E any, P linked[E]](l *lruList, entries []E, i int32) {
	if l.head == i {
		return
	}
	lruUnlink[E, P](l, entries, i)
	lruPushFront[E, P](l, entries, i)
}

package lru

import (
	"slices"
	"testing"
)

type item struct {
	Links
	v int
}

// order walks l from most to least recently used, and back, and fails
// when the two walks disagree.
func order(t *testing.T, l *List, es []item) []int {
	t.Helper()
	var fwd, back []int
	for i := l.Head; i >= 0; i = es[i].Next {
		fwd = append(fwd, es[i].v)
	}
	for i := l.Tail; i >= 0; i = es[i].Prev {
		back = append(back, es[i].v)
	}
	slices.Reverse(back)
	if !slices.Equal(fwd, back) {
		t.Fatalf("forward %v, backward %v", fwd, back)
	}
	return fwd
}

func TestList(t *testing.T) {
	es := make([]item, 4)
	l := NewList()
	for i := range es {
		es[i] = item{Links: Unlinked, v: i}
		PushFront(&l, es, int32(i))
	}
	if got := order(t, &l, es); !slices.Equal(got, []int{3, 2, 1, 0}) {
		t.Fatalf("after pushes: %v", got)
	}
	ToFront(&l, es, 0) // the tail
	ToFront(&l, es, 2) // the middle
	ToFront(&l, es, 2) // already the head
	if got := order(t, &l, es); !slices.Equal(got, []int{2, 0, 3, 1}) {
		t.Fatalf("after moves: %v", got)
	}
	Unlink(&l, es, 1) // the tail
	Unlink(&l, es, 2) // the head
	if got := order(t, &l, es); !slices.Equal(got, []int{0, 3}) {
		t.Fatalf("after unlinks: %v", got)
	}
	if es[1].Links != Unlinked || es[2].Links != Unlinked {
		t.Errorf("unlinked entries keep links %+v %+v", es[1].Links, es[2].Links)
	}
	Unlink(&l, es, 0)
	Unlink(&l, es, 3)
	if l != NewList() {
		t.Errorf("emptied list %+v", l)
	}
}

package cmd

import "time"

// sums adds up rows: what netmon top and the device labels are checked
// against.
type sums struct {
	packets, bytes uint64
	first, last    time.Time
	clients        map[string]bool
}

func (s *sums) add(r dbRow) {
	s.packets += r.Count
	s.bytes += r.Bytes
	if s.first.IsZero() || r.TS.Before(s.first) {
		s.first = r.TS
	}
	if r.TS.After(s.last) {
		s.last = r.TS
	}
	if s.clients == nil {
		s.clients = map[string]bool{}
	}
	s.clients[r.Client] = true
}

// sumBy sums rows by key, skipping rows key rejects with "".
func sumBy(rows []dbRow, key func(dbRow) string) map[string]*sums {
	m := map[string]*sums{}
	for _, r := range rows {
		k := key(r)
		if k == "" {
			continue
		}
		if m[k] == nil {
			m[k] = &sums{}
		}
		m[k].add(r)
	}
	return m
}

package store

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// SeriesQuery selects the rows Series charts.
type SeriesQuery struct {
	Agent        string
	Since, Until time.Time // both required, Since before Until
	Device       string    // as TopQuery.Device
	// Buckets is how many equal steps [Since, Until) is cut into, 1 to
	// MaxBuckets.
	Buckets int
	// Top is how many services get a series of their own, the largest by
	// packets over the range; the rest sum into Other. 1 to MaxSeries.
	Top int
}

// The most buckets and series Series returns, so that one request's answer
// stays small whatever the range or the data.
const (
	MaxBuckets = 1000
	MaxSeries  = 50
	// Other names the series that sums the services beyond Top.
	Other = "(other)"
)

// Series is packets and bytes per service per step, for a stacked chart.
type Series struct {
	Start time.Time     // Since
	Step  time.Duration // (Until-Since)/Buckets
	// Times are the buckets' starts.
	Times []time.Time
	Lines []SeriesLine // largest first (packets, bytes, name), as Top; Other last when present
}

// SeriesLine is one service's counts, one per bucket.
type SeriesLine struct {
	Name    string
	Packets []uint64
	Bytes   []uint64
	// UnknownBytes counts, per bucket, the packets whose bytes are not
	// known (rows from before netmon, adopted from the seed's database);
	// nil when there are none in the whole series.
	UnknownBytes []uint64
}

// Series sums packets and bytes per service and window start in one
// statement (every value bound) and cuts them into q.Buckets steps.
func (s *Store) Series(ctx context.Context, q SeriesQuery) (Series, error) {
	if q.Since.IsZero() || q.Until.IsZero() || !q.Since.Before(q.Until) {
		return Series{}, fmt.Errorf("series: want a range with since before until")
	}
	if q.Buckets < 1 || q.Buckets > MaxBuckets {
		return Series{}, fmt.Errorf("series: buckets %d: want 1 to %d", q.Buckets, MaxBuckets)
	}
	if q.Top < 1 || q.Top > MaxSeries {
		return Series{}, fmt.Errorf("series: top %d: want 1 to %d", q.Top, MaxSeries)
	}
	where, args := rowFilter{Agent: q.Agent, Since: q.Since, Until: q.Until, Device: q.Device}.sql()
	rows, err := s.db.QueryContext(ctx, `SELECT r.ts, r.nickname, SUM(r.count), COALESCE(SUM(r.bytes), 0), SUM(CASE WHEN r.bytes IS NULL THEN r.count ELSE 0 END) FROM tcpdump_records AS r`+
		where+` GROUP BY r.ts, r.nickname`, args...)
	if err != nil {
		return Series{}, readErr(err)
	}
	defer rows.Close()
	type point struct {
		bucket         int
		name           string
		packets, bytes uint64
		unknown        uint64
	}
	step := q.Until.Sub(q.Since) / time.Duration(q.Buckets)
	if step <= 0 {
		step = 1
	}
	var points []point
	totals, byteTotals := map[string]uint64{}, map[string]uint64{}
	for rows.Next() {
		var p point
		var ts time.Time
		if err := rows.Scan(&ts, &p.name, &p.packets, &p.bytes, &p.unknown); err != nil {
			return Series{}, fmt.Errorf("read series: %w", err)
		}
		p.bucket = min(int(ts.Sub(q.Since)/step), q.Buckets-1)
		points = append(points, p)
		totals[p.name] += p.packets
		byteTotals[p.name] += p.bytes
	}
	if err := rows.Err(); err != nil {
		return Series{}, readErr(err)
	}
	names := make([]string, 0, len(totals))
	for n := range totals {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if totals[names[i]] != totals[names[j]] {
			return totals[names[i]] > totals[names[j]]
		}
		if byteTotals[names[i]] != byteTotals[names[j]] {
			return byteTotals[names[i]] > byteTotals[names[j]]
		}
		return names[i] < names[j]
	})
	index := map[string]int{}
	res := Series{Start: q.Since, Step: step}
	for i := range q.Buckets {
		res.Times = append(res.Times, q.Since.Add(time.Duration(i)*step).UTC())
	}
	line := func(name string) int {
		res.Lines = append(res.Lines, SeriesLine{Name: name, Packets: make([]uint64, q.Buckets), Bytes: make([]uint64, q.Buckets)})
		return len(res.Lines) - 1
	}
	for i, n := range names {
		if i < q.Top {
			index[n] = line(n)
		}
	}
	other := -1
	for _, p := range points {
		i, ok := index[p.name]
		if !ok {
			if other < 0 {
				other = line(Other)
			}
			i = other
		}
		res.Lines[i].Packets[p.bucket] += p.packets
		res.Lines[i].Bytes[p.bucket] += p.bytes
		if p.unknown > 0 {
			if res.Lines[i].UnknownBytes == nil {
				res.Lines[i].UnknownBytes = make([]uint64, q.Buckets)
			}
			res.Lines[i].UnknownBytes[p.bucket] += p.unknown
		}
	}
	return res, nil
}

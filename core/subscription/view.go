package subscription

import (
	"fmt"
	"maps"
	"slices"

	"github.com/hearth-sync/hearth/spaceindex"
)

// View is what a subscriber holds: the window's records in order with their
// details, and the counters. It applies a Snapshot, then batches of
// messages in order, exactly as a client should; tests use it as the
// reference client.
type View struct {
	Seq     uint64
	Order   []string // record ids in window order
	Space   map[string]string
	Details map[string]spaceindex.Details
	Total   int
	Prev    int
	Next    int
}

// NewView starts a view from a snapshot.
func NewView(s Snapshot) *View {
	v := &View{Seq: s.Seq, Space: map[string]string{}, Details: map[string]spaceindex.Details{}, Total: s.Total}
	for _, it := range s.Items {
		v.Order = append(v.Order, it.ID)
		v.Space[it.ID] = it.Space
		v.Details[it.ID] = maps.Clone(it.Details)
	}
	return v
}

// Apply applies one batch. Batches the snapshot already includes are
// skipped; a gap in numbering is an error (a lost batch).
func (v *View) Apply(seq uint64, msgs []Message) error {
	if seq <= v.Seq {
		return nil
	}
	if seq != v.Seq+1 {
		return fmt.Errorf("batch %d after %d: a batch was lost", seq, v.Seq)
	}
	v.Seq = seq
	for _, m := range msgs {
		if err := v.apply(m); err != nil {
			return fmt.Errorf("batch %d: %s %s: %w", seq, m.Kind, m.ID, err)
		}
	}
	return nil
}

func (v *View) apply(m Message) error {
	switch m.Kind {
	case Add:
		if slices.Contains(v.Order, m.ID) {
			return fmt.Errorf("already in the window")
		}
		return v.insertAfter(m.ID, m.AfterID)
	case Remove:
		i := slices.Index(v.Order, m.ID)
		if i < 0 {
			return fmt.Errorf("not in the window")
		}
		v.Order = slices.Delete(v.Order, i, i+1)
		delete(v.Details, m.ID)
		delete(v.Space, m.ID)
	case Move:
		i := slices.Index(v.Order, m.ID)
		if i < 0 {
			return fmt.Errorf("not in the window")
		}
		v.Order = slices.Delete(v.Order, i, i+1)
		return v.insertAfter(m.ID, m.AfterID)
	case DetailsSet:
		v.Details[m.ID] = maps.Clone(m.Details)
		v.Space[m.ID] = m.Space
	case DetailsAmend:
		d := v.Details[m.ID]
		if d == nil {
			return fmt.Errorf("amend of a record without details")
		}
		maps.Copy(d, m.Details)
	case DetailsUnset:
		for _, k := range m.Keys {
			delete(v.Details[m.ID], k)
		}
	case Counters:
		v.Total, v.Prev, v.Next = m.Total, m.Prev, m.Next
	case SpaceRemoved:
	default:
		return fmt.Errorf("unknown message kind %d", m.Kind)
	}
	return nil
}

func (v *View) insertAfter(id, after string) error {
	at := 0
	if after != "" {
		i := slices.Index(v.Order, after)
		if i < 0 {
			return fmt.Errorf("after %s, which is not in the window", after)
		}
		at = i + 1
	}
	v.Order = slices.Insert(v.Order, at, id)
	return nil
}

package clientlibrary

import (
	"context"

	"github.com/hearth-sync/hearth/core/subscription"
	"github.com/hearth-sync/hearth/pb"
	"github.com/hearth-sync/hearth/spaceindex"
)

// subscriber is the session a subscription belongs to: a gRPC caller's own
// session, or the in-process event handler's session for in-process callers.
func (a *api) subscriber(ctx context.Context) *Session {
	c := CallerFrom(ctx)
	if c.Session != nil {
		return c.Session
	}
	if c.Root {
		a.lib.evMu.Lock()
		defer a.lib.evMu.Unlock()
		return a.lib.evSession
	}
	return nil
}

func (a *api) ObjectSubscribe(ctx context.Context, req *pb.Rpc_Object_Subscribe_Request) *pb.Rpc_Object_Subscribe_Response {
	sess := a.subscriber(ctx)
	if sess == nil {
		return &pb.Rpc_Object_Subscribe_Response{Error: &pb.Rpc_Error{Code: pb.Rpc_Error_FAILED_PRECONDITION,
			Description: "subscriptions belong to a session: call with a session token (or set an event handler in-process)"}}
	}
	if req.Limit < 0 || req.Offset < 0 {
		return &pb.Rpc_Object_Subscribe_Response{Error: badInput("limit and offset must not be negative")}
	}
	q := spaceindex.Query{Limit: int(req.Limit), Offset: int(req.Offset), Keys: req.Keys}
	var err error
	if q.Filter, q.Sorts, err = toIndexQuery(req.Filters, req.Sorts, req.Text); err != nil {
		return &pb.Rpc_Object_Subscribe_Response{Error: badInput(err.Error())}
	}
	for _, id := range req.SpaceIds { // a named space loads, as for a query
		if _, err := a.loadedSpace(ctx, id); err != nil {
			return &pb.Rpc_Object_Subscribe_Response{Error: apiError(err)}
		}
	}
	snap, err := a.lib.app.Subscribe(ctx, subscription.Request{ID: req.SubId, Spaces: req.SpaceIds, Query: q},
		func(id string, seq uint64, msgs []subscription.Message) { sess.push(subscriptionEvent(id, seq, msgs)) })
	if err != nil {
		return &pb.Rpc_Object_Subscribe_Response{Error: apiError(err)}
	}
	// The subscription ends with its session (at once if the session ended
	// meanwhile).
	sess.addCleanup(func() { a.lib.app.Unsubscribe(snap.ID) })
	out := &pb.Rpc_Object_Subscribe_Response{SubId: snap.ID, Total: int64(snap.Total), Seq: snap.Seq, SpaceIds: snap.Spaces}
	for _, it := range snap.Items {
		out.Objects = append(out.Objects, &pb.Rpc_Object_SubscribedObject{SpaceId: it.Space, Id: it.ID, Details: indexToAPIDetails(it.Details)})
	}
	return out
}

func (a *api) ObjectUnsubscribe(_ context.Context, req *pb.Rpc_Object_Unsubscribe_Request) *pb.Rpc_Object_Unsubscribe_Response {
	for _, id := range req.SubIds {
		a.lib.app.Unsubscribe(id)
	}
	return &pb.Rpc_Object_Unsubscribe_Response{}
}

// subscriptionEvent is one batch of a subscription's messages as an Event.
func subscriptionEvent(subID string, seq uint64, msgs []subscription.Message) *pb.Event {
	ev := &pb.Event{ContextId: subID, Seq: seq, Messages: make([]*pb.Event_Message, 0, len(msgs))}
	for _, m := range msgs {
		var out *pb.Event_Message
		switch m.Kind {
		case subscription.Add:
			out = &pb.Event_Message{Value: &pb.Event_Message_SubscriptionAdd{SubscriptionAdd: &pb.Event_Subscription_Add{SubId: subID, SpaceId: m.Space, Id: m.ID, AfterId: m.AfterID}}}
		case subscription.Remove:
			out = &pb.Event_Message{Value: &pb.Event_Message_SubscriptionRemove{SubscriptionRemove: &pb.Event_Subscription_Remove{SubId: subID, SpaceId: m.Space, Id: m.ID}}}
		case subscription.Move:
			out = &pb.Event_Message{Value: &pb.Event_Message_SubscriptionPosition{SubscriptionPosition: &pb.Event_Subscription_Position{SubId: subID, SpaceId: m.Space, Id: m.ID, AfterId: m.AfterID}}}
		case subscription.Counters:
			out = &pb.Event_Message{Value: &pb.Event_Message_SubscriptionCounters{SubscriptionCounters: &pb.Event_Subscription_Counters{SubId: subID, Total: int64(m.Total), PrevCount: int64(m.Prev), NextCount: int64(m.Next)}}}
		case subscription.SpaceRemoved:
			out = &pb.Event_Message{Value: &pb.Event_Message_SubscriptionSpaceRemoved{SubscriptionSpaceRemoved: &pb.Event_Subscription_SpaceRemoved{SubId: subID, SpaceId: m.Space}}}
		case subscription.DetailsSet:
			out = &pb.Event_Message{Value: &pb.Event_Message_ObjectDetailsSet{ObjectDetailsSet: &pb.Event_Object_DetailsSet{SubId: subID, SpaceId: m.Space, Id: m.ID, Details: indexToAPIDetails(m.Details)}}}
		case subscription.DetailsAmend:
			out = &pb.Event_Message{Value: &pb.Event_Message_ObjectDetailsAmend{ObjectDetailsAmend: &pb.Event_Object_DetailsAmend{SubId: subID, SpaceId: m.Space, Id: m.ID, Details: indexToAPIDetails(m.Details)}}}
		case subscription.DetailsUnset:
			out = &pb.Event_Message{Value: &pb.Event_Message_ObjectDetailsUnset{ObjectDetailsUnset: &pb.Event_Object_DetailsUnset{SubId: subID, SpaceId: m.Space, Id: m.ID, Keys: m.Keys}}}
		default:
			continue
		}
		ev.Messages = append(ev.Messages, out)
	}
	return ev
}

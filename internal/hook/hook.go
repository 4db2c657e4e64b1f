// Package hook is the one registry of callbacks that appbackend runs at a point of an
// account's life (installed, uninstalled, data to clean up, reauthorization
// required): a typed list of handlers, each with an order, triggered in turn.
//
// It follows PocketBase's core/hook in spirit — a Hook[T] per point, Bind with an
// order, Trigger — without its Next chain: a handler cannot skip the others, and the
// first error stops the chain, since every hook here runs inside a transaction that
// the error rolls back.
package hook

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Func handles one occurrence of a hook's point.
type Func[T any] func(ctx context.Context, e T) error

// Ordering of built-in handlers around the app's (which bind at Default). Lower runs
// first; handlers of equal order run in the order they were bound.
const (
	// First is for built-in work the app's handlers may rely on (an enqueued lookup).
	First = -100
	// Default is the order of the app's handlers.
	Default = 0
	// Last is for built-in work that follows the app's handlers.
	Last = 100
)

// Hook is an ordered list of handlers for values of type T. Its zero value is ready;
// it is safe for concurrent use, and a Trigger sees the handlers bound before it.
type Hook[T any] struct {
	mu       sync.RWMutex
	handlers []handler[T]
	bound    int // handlers bound so far: the tie-break of equal orders
}

type handler[T any] struct {
	name  string
	order int
	seq   int
	fn    Func[T]
}

// Bind adds fn under name (which errors of Trigger carry) at the given order. A nil fn
// panics: a registration mistake shows at the first test that reaches it.
func (h *Hook[T]) Bind(name string, order int, fn Func[T]) {
	if fn == nil {
		panic(fmt.Sprintf("hook: nil handler for %q", name))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.bound++
	h.handlers = append(h.handlers, handler[T]{name: name, order: order, seq: h.bound, fn: fn})
	slices.SortStableFunc(h.handlers, func(a, b handler[T]) int {
		if a.order != b.order {
			return a.order - b.order
		}
		return a.seq - b.seq
	})
}

// Len is how many handlers are bound.
func (h *Hook[T]) Len() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.handlers)
}

// Trigger runs every handler in order with e and stops at the first error, which it
// returns wrapped with the handler's name.
func (h *Hook[T]) Trigger(ctx context.Context, e T) error {
	h.mu.RLock()
	handlers := h.handlers
	h.mu.RUnlock()
	for _, hd := range handlers {
		if err := hd.fn(ctx, e); err != nil {
			return fmt.Errorf("%s: %w", hd.name, err)
		}
	}
	return nil
}

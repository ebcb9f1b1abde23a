package lb

import "sync"

// Registry hands out the shared State of each endpoint so that counters and
// health survive configuration rebuilds: building a new balancer that names
// the same key gets the same *State.
//
// The registry is a build-time structure. Its methods take a mutex and may
// allocate; request handling never touches it, because endpoints hold their
// *State directly.
//
// Keys are chosen by the caller. Traefik keeps health and in-flight counts
// per (service, server), so use one Registry per service or include the
// service name in the key; using the bare server URL shares the counters of
// a backend between every service that lists it.
//
// Lifecycle: after a rebuild has fetched the States of every endpoint it
// uses, call Sweep with the set of keys that are still referenced. States
// that are swept stay valid for balancers that still hold them (requests in
// flight finish normally), but a later State call for the same key starts a
// fresh State.
//
// The zero value is ready to use. A Registry must not be copied after first
// use.
type Registry struct {
	mu     sync.Mutex
	states map[string]*State
}

// NewRegistry returns an empty Registry.
func NewRegistry() *Registry { return &Registry{} }

// State returns the State registered for key, creating it (up, idle) if the
// key is new. It is safe for concurrent use.
func (r *Registry) State(key string) *State {
	r.mu.Lock()
	defer r.mu.Unlock()
	if st, ok := r.states[key]; ok {
		return st
	}
	if r.states == nil {
		r.states = make(map[string]*State)
	}
	st := new(State)
	r.states[key] = st
	return st
}

// Lookup returns the State registered for key, without creating one (for
// reports such as the API's server status). It is safe for concurrent use.
func (r *Registry) Lookup(key string) (*State, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.states[key]
	return st, ok
}

// Sweep forgets every key for which live[key] is false and returns how many
// keys were dropped. Call it once a rebuild is complete, with the keys of all
// endpoints of the new configuration. It is safe for concurrent use.
func (r *Registry) Sweep(live map[string]bool) (dropped int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for key := range r.states {
		if !live[key] {
			delete(r.states, key)
			dropped++
		}
	}
	return dropped
}

// Len returns the number of registered keys.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.states)
}

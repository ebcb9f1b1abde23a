package manifest

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Switches for the tests, which compare the fast paths with the reference
// path. They are never changed outside tests.
var (
	fastYAMLEnabled   = true // parse YAML documents with the fast path when possible
	fastDecodeEnabled = true // decode fast-parsed documents without JSON when possible
	docCacheEnabled   = true // reuse the result of documents seen in the previous loads
)

// docJob is one unit of decoding: a YAML document, or a whole file of
// JSON objects (a stream cannot be cut without parsing it).
type docJob struct {
	// problemsBefore is the number of problems the decoder had when the
	// job was queued: the job's problems go after those.
	problemsBefore int
	name           string
	doc            yamlDoc // a YAML document, when jsonData is nil
	jsonData       []byte  // a JSON stream

	res    *docResult
	cached *cacheEntry // the cache entry res comes from, if any
}

// docResult is what decoding one job gives.
type docResult struct {
	objs      Objects
	problems  []Problem
	cacheable bool
}

// flush decodes the queued jobs, on every core, and adds their objects and
// problems to d in queue order, so the result is the one of decoding the
// jobs one after the other.
func (d *decoder) flush() {
	jobs := d.jobs
	d.jobs = nil
	if len(jobs) == 0 {
		return
	}
	gen := docs.lookup(jobs)
	var todo []int
	for i := range jobs {
		if jobs[i].res == nil {
			todo = append(todo, i)
		}
	}
	runJobs(jobs, todo)
	docs.store(jobs, todo, gen)
	d.merge(jobs)
}

// runJobs decodes jobs[i] for each i of todo, on every core.
func runJobs(jobs []docJob, todo []int) {
	workers := min(runtime.GOMAXPROCS(0), (len(todo)+7)/8)
	if workers <= 1 {
		p := getParser()
		for _, i := range todo {
			jobs[i].res = runJob(&jobs[i], p)
		}
		putParser(p)
		return
	}
	// Documents are handed out in small batches: one is a few
	// microseconds of work.
	const batch = 8
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := getParser()
			defer putParser(p)
			for {
				start := int(next.Add(batch)) - batch
				if start >= len(todo) {
					return
				}
				for _, i := range todo[start:min(start+batch, len(todo))] {
					jobs[i].res = runJob(&jobs[i], p)
				}
			}
		}()
	}
	wg.Wait()
}

func runJob(job *docJob, p *yparser) *docResult {
	res := &docResult{}
	d := &decoder{objs: &res.objs}
	if job.jsonData != nil {
		d.jsonStream(job.name, job.jsonData)
	} else {
		res.cacheable = d.yamlDoc(job.doc, p)
		// Only a result labelled with the document's place alone can be
		// moved to another place.
		for _, pr := range d.problems {
			if pr.File != job.doc.src.File || pr.Line != job.doc.src.Line || pr.Doc != job.doc.src.Doc {
				res.cacheable = false
			}
		}
	}
	res.problems = d.problems
	return res
}

var parsers = sync.Pool{New: func() any { return new(yparser) }}

func getParser() *yparser { return parsers.Get().(*yparser) }

func putParser(p *yparser) {
	if cap(p.t.nodes) > 1<<16 || cap(p.lines) > 1<<16 {
		return // do not keep the buffers of a huge document
	}
	p.src = ""
	parsers.Put(p)
}

// merge adds the results of jobs to d, in order.
func (d *decoder) merge(jobs []docJob) {
	// Size every kind's slice once.
	var n [11]int
	probs := len(d.problems)
	for i := range jobs {
		r := jobs[i].res
		for k, l := range r.objs.lens() {
			n[k] += l
		}
		probs += len(r.problems)
	}
	o := d.objs
	o.IngressRoutes = reserve(o.IngressRoutes, n[0])
	o.Middlewares = reserve(o.Middlewares, n[1])
	o.TraefikServices = reserve(o.TraefikServices, n[2])
	o.TLSOptions = reserve(o.TLSOptions, n[3])
	o.TLSStores = reserve(o.TLSStores, n[4])
	o.ServersTransports = reserve(o.ServersTransports, n[5])
	o.Services = reserve(o.Services, n[6])
	o.EndpointSlices = reserve(o.EndpointSlices, n[7])
	o.Nodes = reserve(o.Nodes, n[8])
	o.Secrets = reserve(o.Secrets, n[9])
	o.ConfigMaps = reserve(o.ConfigMaps, n[10])

	queued := d.problems
	problems := make([]Problem, 0, probs)
	done := 0
	for i := range jobs {
		job := &jobs[i]
		problems = append(problems, queued[done:job.problemsBefore]...)
		done = job.problemsBefore
		r := job.res
		if job.cached != nil && job.cached.src != job.doc.src {
			// A cached result from another place: relabel it.
			src := job.doc.src
			at := len(problems)
			problems = append(problems, r.problems...)
			for j := at; j < len(problems); j++ {
				problems[j].File, problems[j].Line, problems[j].Doc = src.File, src.Line, src.Doc
			}
			o.appendRelabelled(&r.objs, src)
			continue
		}
		problems = append(problems, r.problems...)
		o.Merge(&r.objs)
	}
	d.problems = append(problems, queued[done:]...)
}

// lens returns the number of objects of each kind, in field order.
func (o *Objects) lens() [11]int {
	return [11]int{len(o.IngressRoutes), len(o.Middlewares), len(o.TraefikServices), len(o.TLSOptions),
		len(o.TLSStores), len(o.ServersTransports), len(o.Services), len(o.EndpointSlices), len(o.Nodes),
		len(o.Secrets), len(o.ConfigMaps)}
}

// reserve makes room for n more elements, keeping a nil slice nil when
// there are none.
func reserve[T any](s []T, n int) []T {
	if n == 0 {
		return s
	}
	out := make([]T, len(s), len(s)+n)
	copy(out, s)
	return out
}

// appendRelabelled appends the objects of other with their Source set to
// src.
func (o *Objects) appendRelabelled(other *Objects, src Source) {
	o.IngressRoutes = relabel(o.IngressRoutes, other.IngressRoutes, func(x *IngressRoute) { x.Source = src })
	o.Middlewares = relabel(o.Middlewares, other.Middlewares, func(x *Middleware) { x.Source = src })
	o.TraefikServices = relabel(o.TraefikServices, other.TraefikServices, func(x *TraefikService) { x.Source = src })
	o.TLSOptions = relabel(o.TLSOptions, other.TLSOptions, func(x *TLSOption) { x.Source = src })
	o.TLSStores = relabel(o.TLSStores, other.TLSStores, func(x *TLSStore) { x.Source = src })
	o.ServersTransports = relabel(o.ServersTransports, other.ServersTransports, func(x *ServersTransport) { x.Source = src })
	o.Services = relabel(o.Services, other.Services, func(x *Service) { x.Source = src })
	o.EndpointSlices = relabel(o.EndpointSlices, other.EndpointSlices, func(x *EndpointSlice) { x.Source = src })
	o.Nodes = relabel(o.Nodes, other.Nodes, func(x *Node) { x.Source = src })
	o.Secrets = relabel(o.Secrets, other.Secrets, func(x *Secret) { x.Source = src })
	o.ConfigMaps = relabel(o.ConfigMaps, other.ConfigMaps, func(x *ConfigMap) { x.Source = src })
}

func relabel[T any](dst, src []T, set func(*T)) []T {
	at := len(dst)
	dst = append(dst, src...)
	for i := at; i < len(dst); i++ {
		set(&dst[i])
	}
	return dst
}

// The document cache makes a reload cheap: a document whose bytes did not
// change since one of the two previous loads is not decoded again, its
// objects and problems are reused (relabelled with the document's current
// file, line and number). Decoding is a function of a document's bytes
// alone, so the result is the same; the objects are shared with the
// earlier result, which is why they are read-only (translate and the
// engine only read them; TestLoadDoesNotMutateObjects in package k8swatch
// checks it).
//
// The key is the document's text itself, not a hash of it, so two
// different documents can never be confused; a Go map hashes it anyway.
// Results whose messages name lines of the file (YAML syntax errors) are
// not cached.
type docCache struct {
	mu      sync.Mutex
	gen     uint64
	entries map[string]*cacheEntry
}

type cacheEntry struct {
	res *docResult
	src Source // the place res is labelled with
	gen uint64 // the last load that used the entry
}

// maxCacheEntries bounds the cache; documents past it are not cached.
const maxCacheEntries = 1 << 20

var docs = docCache{entries: map[string]*cacheEntry{}}

// lookup starts a load: it sets the result of every job whose document is
// cached, and returns the load's generation.
func (c *docCache) lookup(jobs []docJob) uint64 {
	if !docCacheEnabled {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for i := range jobs {
		job := &jobs[i]
		if job.jsonData != nil {
			continue
		}
		if e, ok := c.entries[job.doc.text]; ok {
			e.gen = c.gen
			job.res, job.cached = e.res, e
		}
	}
	return c.gen
}

// store ends a load: it caches the new cacheable results, and forgets the
// documents that neither this load nor the previous one used.
func (c *docCache) store(jobs []docJob, done []int, gen uint64) {
	if !docCacheEnabled {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, i := range done {
		job := &jobs[i]
		if job.jsonData != nil || !job.res.cacheable || len(c.entries) >= maxCacheEntries {
			continue
		}
		c.entries[job.doc.text] = &cacheEntry{res: job.res, src: job.doc.src, gen: gen}
	}
	if c.gen >= 2 {
		for k, e := range c.entries {
			if e.gen < c.gen-1 {
				delete(c.entries, k)
			}
		}
	}
}

// resetDocCache empties the cache (for tests and benchmarks).
func resetDocCache() {
	docs.mu.Lock()
	defer docs.mu.Unlock()
	clear(docs.entries)
}

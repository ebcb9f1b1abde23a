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

	res *docResult
}

// docResult is what decoding one job gives.
type docResult struct {
	objs     Objects
	problems []Problem
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
	runJobs(jobs)
	d.merge(jobs)
}

// runJobs decodes every job, on every core.
func runJobs(jobs []docJob) {
	workers := min(runtime.GOMAXPROCS(0), (len(jobs)+7)/8)
	if workers <= 1 {
		p := getParser()
		for i := range jobs {
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
				if start >= len(jobs) {
					return
				}
				for i := start; i < min(start+batch, len(jobs)); i++ {
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
		d.yamlDoc(job.doc, p)
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
		problems = append(problems, job.res.problems...)
		o.Merge(&job.res.objs)
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

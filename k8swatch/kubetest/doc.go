// Package kubetest gives integration tests a real Kubernetes API server and
// test hosts with their own addresses.
//
// [Start] runs an etcd and a kube-apiserver (the binaries that
// hack/kube-test-bins.sh builds, see [Bins]) on random free ports of
// 127.0.0.1. Both run as child processes of the test binary: etcd keeps its
// data on /dev/shm when that exists and never fsyncs; the API server uses a
// self-signed serving certificate, a static bearer token in system:masters
// with RBAC, and no endpoint reconciler, so no EndpointSlice names a host
// address. A test talks to it through [ControlPlane.Config] or, for a
// subprocess such as the edgeroute binary, through the kubeconfig file at
// [ControlPlane.Kubeconfig]. [Apply] creates or updates the objects of a
// multi-document YAML stream, and [WaitCRDs] waits for custom resource
// definitions to be served.
//
// The API server refuses loopback addresses in EndpointSlices, so backends
// run on test hosts: [NewNetNS] creates a network namespace joined to the
// host by a veth pair, with addresses in 198.18.X.0/24 (198.18.0.0/15 is set
// aside for network benchmarks; no other range is ever used).
// [NetNS.Listen] opens a listener inside it that any goroutine of the test
// can serve on. Namespaces need root (CAP_NET_ADMIN and CAP_SYS_ADMIN); without
// it NewNetNS fails, it does not skip.
//
// Environment:
//
//	EDGEROUTE_KUBE_BINS  directory holding kube-apiserver and etcd; when unset,
//	                     hack/kube-test-bins.sh finds or builds them
//	EDGEROUTE_KEEP_KUBE  when set, Stop keeps the work directory (logs, etcd
//	                     data, certificates, kubeconfig) and prints its path
//
// Cost: the first build of the binaries takes about 10 minutes on two idle
// cores (up to 18 on a busy machine) and is cached in
// ~/.cache/edgeroute/kube-test-bins; later runs find them in under a second.
// On a fresh machine run hack/kube-test-bins.sh before go test, or pass
// -timeout=30m: go test kills a test binary one minute after its -timeout
// (10 minutes by default), TestMain included. Start takes 3 to 7 s until
// /readyz answers ok, and the pair uses about 300 MB of memory plus about
// 120 MB of /dev/shm. Start one control plane per test package, in TestMain.
//
// The processes die with the test binary (SIGKILL through PR_SET_PDEATHSIG),
// and the next Start and NewNetNS remove the work directories and namespaces
// that a test binary which died without cleaning up left behind.
package kubetest

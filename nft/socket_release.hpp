#pragma once
// The last close of a netfilter netlink socket waits for pending nf_tables destroy work.
//
// The kernel frees what an nftables transaction deleted (this process's, or another's just
// before) after an RCU grace period (~10-15 ms here), and whoever drops the last reference to a
// netfilter netlink socket while that work is pending waits for it (nf_tables flushes its destroy
// work on NETLINK_URELEASE). A long-running embedder keeps its sockets and never waits; a short
// command would, at exit, though what it deleted is committed already.

namespace podnet {

// Called last by a short-lived program (podnet, podnet-cni): a child inherits every descriptor,
// lets go of stdin/stdout/stderr at once (a caller reading our output sees its end when we
// exit), and holds the rest until this process has exited; then its own exit pays the wait,
// where nobody waits for it. Whoever reaps orphans (init, a subreaper) reaps it. A failed fork
// only costs the wait.
void leave_socket_close_to_a_child();

}  // namespace podnet

#include "portmap/conntrack.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "netns/run_in_netns.hpp"

namespace podnet {

namespace {

struct CloseHandle {
    void operator()(nfct_handle* h) const { nfct_close(h); }
};

Result<std::vector<IpAddress>> local_addresses() {
    ifaddrs* list = nullptr;
    if (::getifaddrs(&list) != 0) return fail_errno("list local addresses", errno);
    std::vector<IpAddress> out;
    for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
        if (i->ifa_addr == nullptr) continue;
        IpAddress a;
        if (i->ifa_addr->sa_family == AF_INET) {
            a.family = AF_INET;
            std::memcpy(a.bytes.data(), &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
        } else if (i->ifa_addr->sa_family == AF_INET6) {
            a.family = AF_INET6;
            std::memcpy(a.bytes.data(), &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr,
                        16);
        } else {
            continue;
        }
        out.push_back(a);
    }
    ::freeifaddrs(list);
    return out;
}

struct Scan {
    const PortMapping* mapping = nullptr;
    uint8_t protocol = 0;
    std::vector<IpAddress> locals;
    std::vector<nf_conntrack*> matches;  // owned (stolen from the dump)
    bool out_of_memory = false;

    Scan() = default;
    Scan(const Scan&) = delete;
    Scan& operator=(const Scan&) = delete;
    ~Scan() { release(); }
    void release() {
        for (auto* ct : matches) nfct_destroy(ct);
        matches.clear();
    }

    [[nodiscard]] bool wanted_destination(const IpAddress& dst) const {
        const auto& bound = mapping->host_ip;
        if (bound) {
            bool any = std::all_of(bound->bytes.begin(),
                                   bound->bytes.begin() + static_cast<long>(bound->size()),
                                   [](uint8_t b) { return b == 0; });
            return any ? dst.family == bound->family && is_local(dst) : dst == *bound;
        }
        return is_local(dst);
    }
    [[nodiscard]] bool is_local(const IpAddress& a) const {
        // All of 127/8 is routed to lo, configured or not.
        if (a.is_v4() && a.bytes[0] == 127) return true;
        return std::find(locals.begin(), locals.end(), a) != locals.end();
    }
};

int collect(nf_conntrack_msg_type, nf_conntrack* ct, void* data) {
    auto* scan = static_cast<Scan*>(data);
    if (!nfct_attr_is_set(ct, ATTR_ORIG_L4PROTO) || !nfct_attr_is_set(ct, ATTR_ORIG_PORT_DST) ||
        !nfct_attr_is_set(ct, ATTR_ORIG_L3PROTO))
        return NFCT_CB_CONTINUE;
    if (nfct_get_attr_u8(ct, ATTR_ORIG_L4PROTO) != scan->protocol ||
        ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST)) != scan->mapping->host_port)
        return NFCT_CB_CONTINUE;
    IpAddress dst;
    uint8_t l3 = nfct_get_attr_u8(ct, ATTR_ORIG_L3PROTO);
    if (l3 == AF_INET && nfct_attr_is_set(ct, ATTR_ORIG_IPV4_DST)) {
        dst.family = AF_INET;
        uint32_t v4 = nfct_get_attr_u32(ct, ATTR_ORIG_IPV4_DST);
        std::memcpy(dst.bytes.data(), &v4, 4);
    } else if (l3 == AF_INET6 && nfct_attr_is_set(ct, ATTR_ORIG_IPV6_DST)) {
        dst.family = AF_INET6;
        std::memcpy(dst.bytes.data(), nfct_get_attr(ct, ATTR_ORIG_IPV6_DST), 16);
    } else {
        return NFCT_CB_CONTINUE;
    }
    if (!scan->wanted_destination(dst)) return NFCT_CB_CONTINUE;
    try {
        scan->matches.push_back(ct);
    } catch (const std::bad_alloc&) {
        scan->out_of_memory = true;
        return NFCT_CB_FAILURE;
    }
    return NFCT_CB_STOLEN;
}

}  // namespace

Result<int> flush_conntrack(const PortMapping& mapping) {
    std::string context = "flush conntrack entries of " + format_port_mapping(mapping);
    Scan scan;
    scan.mapping = &mapping;
    if (mapping.protocol == "tcp")
        scan.protocol = IPPROTO_TCP;
    else if (mapping.protocol == "udp")
        scan.protocol = IPPROTO_UDP;
    else
        return fail(context + ": unsupported protocol \"" + mapping.protocol + "\"");
    if (!mapping.host_ip) {
        auto locals = local_addresses();
        if (!locals) return wrap(locals.error(), context);
        scan.locals = std::move(*locals);
    } else {
        auto locals = local_addresses();  // for an unspecified host IP
        if (locals) scan.locals = std::move(*locals);
    }

    std::unique_ptr<nfct_handle, CloseHandle> handle(nfct_open(CONNTRACK, 0));
    if (!handle) return fail_errno(context + ": open conntrack netlink socket", errno);
    ::fcntl(nfct_fd(handle.get()), F_SETFD, FD_CLOEXEC);
    if (nfct_callback_register(handle.get(), NFCT_T_ALL, collect, &scan) != 0)
        return fail_errno(context + ": register conntrack callback", errno);

    // A dump can be interrupted when the table changes underneath it (EINTR) or overflow the
    // socket on a busy host (ENOBUFS); both are worth a fresh try.
    uint32_t family = mapping.host_ip ? static_cast<uint32_t>(mapping.host_ip->family) : AF_UNSPEC;
    for (int attempt = 0;; ++attempt) {
        if (nfct_query(handle.get(), NFCT_Q_DUMP, &family) == 0) break;
        int err = errno;
        if (scan.out_of_memory) return fail(context + ": out of memory");
        if ((err != EINTR && err != ENOBUFS) || attempt == 2)
            return fail_errno(context + ": dump conntrack table", err);
        scan.release();
    }
    nfct_callback_unregister(handle.get());

    int deleted = 0;
    for (auto* ct : scan.matches) {
        if (nfct_query(handle.get(), NFCT_Q_DESTROY, ct) == 0) {
            ++deleted;
        } else if (errno != ENOENT) {  // ENOENT: it expired meanwhile
            return fail_errno(context + ": delete entry", errno);
        }
    }
    return deleted;
}

Result<int> flush_conntrack_in(int netns_fd, const PortMapping& mapping) {
    return run_in_netns(netns_fd, [&] { return flush_conntrack(mapping); });
}

}  // namespace podnet

#include "netns/netlink.hpp"

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/handlers.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace podnet {

namespace {

struct LinkPut {
    void operator()(rtnl_link* link) const { rtnl_link_put(link); }
};
struct RtAddrPut {
    void operator()(rtnl_addr* addr) const { rtnl_addr_put(addr); }
};
struct NlAddrPut {
    void operator()(nl_addr* addr) const { nl_addr_put(addr); }
};
struct CacheFree {
    void operator()(nl_cache* cache) const { nl_cache_free(cache); }
};
struct MsgFree {
    void operator()(nl_msg* msg) const { nlmsg_free(msg); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkPut>;
using RtAddrPtr = std::unique_ptr<rtnl_addr, RtAddrPut>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrPut>;
using CachePtr = std::unique_ptr<nl_cache, CacheFree>;
using MsgPtr = std::unique_ptr<nl_msg, MsgFree>;

// The kernel's own answer to the last request. libnl folds errno values into its NLE_* codes
// (ENOENT and ESRCH both become "Object not found"), so the raw errno and the extended-ack text
// are caught in an error callback and preferred when describing a failure.
struct KernelError {
    int number = 0;    // errno, 0 when the kernel did not refuse anything
    std::string text;  // NLMSGERR_ATTR_MSG, when the kernel explained
};

int record_kernel_error(sockaddr_nl* /*from*/, nlmsgerr* err, void* arg) {
    auto* last = static_cast<KernelError*>(arg);
    last->number = -err->error;
    last->text.clear();
    // libnl hands over the payload of the NLMSG_ERROR message; its header sits just before it.
    const auto* base = reinterpret_cast<const unsigned char*>(err) - NLMSG_HDRLEN;
    const auto* hdr = reinterpret_cast<const nlmsghdr*>(base);
    if ((hdr->nlmsg_flags & NLM_F_ACK_TLVS) == 0) return NL_STOP;
    // After struct nlmsgerr comes the rest of our request unless the kernel capped it, then
    // the extended-ack attributes.
    size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
    if ((hdr->nlmsg_flags & NLM_F_CAPPED) == 0) {
        if (err->msg.nlmsg_len < sizeof(nlmsghdr)) return NL_STOP;
        offset += err->msg.nlmsg_len - sizeof(nlmsghdr);
    }
    offset = NLMSG_ALIGN(offset);
    if (offset >= hdr->nlmsg_len) return NL_STOP;
    int remaining = static_cast<int>(hdr->nlmsg_len - offset);
    const auto* attr = reinterpret_cast<const nlattr*>(base + offset);
    for (; nla_ok(attr, remaining); attr = nla_next(attr, &remaining)) {
        if (nla_type(attr) == NLMSGERR_ATTR_MSG && nla_len(attr) > 0) {
            const char* text = static_cast<const char*>(nla_data(attr));
            last->text.assign(text, strnlen(text, static_cast<size_t>(nla_len(attr))));
        }
    }
    return NL_STOP;  // libnl then returns the error code as usual
}

// Keeps the interface index from an RTM_NEWLINK answer to RTM_GETLINK.
int store_link_index(nl_msg* msg, void* arg) {
    const nlmsghdr* hdr = nlmsg_hdr(msg);
    if (hdr->nlmsg_type == RTM_NEWLINK && hdr->nlmsg_len >= NLMSG_LENGTH(sizeof(ifinfomsg)))
        *static_cast<int*>(arg) = static_cast<const ifinfomsg*>(nlmsg_data(hdr))->ifi_index;
    return NL_OK;
}

// errno for libnl's own codes, for failures the kernel did not report itself.
int errno_of_nle(int code) {
    switch (code < 0 ? -code : code) {
        case NLE_EXIST:
            return EEXIST;
        case NLE_NODEV:
            return ENODEV;
        case NLE_OBJ_NOTFOUND:
            return ENOENT;
        case NLE_NOMEM:
            return ENOMEM;
        case NLE_PERM:
            return EPERM;
        case NLE_NOACCESS:
            return EACCES;
        case NLE_INVAL:
            return EINVAL;
        case NLE_RANGE:
            return ERANGE;
        case NLE_BUSY:
            return EBUSY;
        case NLE_OPNOTSUPP:
            return EOPNOTSUPP;
        case NLE_AGAIN:
            return EAGAIN;
        case NLE_INTR:
            return EINTR;
        case NLE_NOADDR:
            return EADDRNOTAVAIL;
        default:
            return 0;
    }
}

// The kernel's rules for interface names (dev_valid_name), checked before libnl sees the name:
// rtnl_link_set_name() would silently cut a long one to 15 bytes.
Result<void> check_link_name(const std::string& name) {
    if (name.empty()) return fail("link name is empty");
    if (name.size() >= IFNAMSIZ)
        return fail("link " + name + ": name longer than " + std::to_string(IFNAMSIZ - 1) +
                    " bytes");
    if (name == "." || name == "..") return fail("link " + name + ": not a valid name");
    for (char c : name) {
        if (c == '/' || c == ':' || c == '\0' || std::isspace(static_cast<unsigned char>(c)))
            return fail("link " + name + ": not a valid name");
    }
    return {};
}

NlAddrPtr to_nl_addr(const IpAddress& address, int prefix_length) {
    NlAddrPtr out(nl_addr_build(address.family, address.bytes.data(), address.size()));
    if (out) nl_addr_set_prefixlen(out.get(), prefix_length);
    return out;
}

std::string family_name(const IpAddress& address) {
    return address.is_v4() ? "IPv4" : "IPv6";
}

MsgPtr new_message(int type, int flags, const void* header, size_t size) {
    MsgPtr msg(nlmsg_alloc_simple(type, flags));
    if (msg && nlmsg_append(msg.get(), const_cast<void*>(header), size, NLMSG_ALIGNTO) < 0)
        msg.reset();
    return msg;
}

std::string format_mac(const unsigned char* bytes, unsigned length) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned i = 0; i < length; ++i) {
        if (i > 0) out += ':';
        out += digits[bytes[i] >> 4];
        out += digits[bytes[i] & 0xf];
    }
    return out;
}

}  // namespace

struct NetlinkSocket::State {
    nl_sock* sock = nullptr;
    nl_cb* index_cb = nullptr;  // the socket's callbacks + store_link_index
    int found_index = 0;
    KernelError last;

    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
        if (index_cb != nullptr) nl_cb_put(index_cb);
        if (sock != nullptr) nl_socket_free(sock);  // closes the fd as well
    }

    // Creates the socket in the calling thread's network namespace.
    Result<void> connect() {
        sock = nl_socket_alloc();
        if (sock == nullptr) return fail("open netlink socket: Cannot allocate memory");
        int rc = nl_connect(sock, NETLINK_ROUTE);
        if (rc < 0) return fail("open netlink socket: " + std::string(nl_geterror(rc)));
        nl_socket_modify_err_cb(sock, NL_CB_CUSTOM, record_kernel_error, &last);
        nl_cb* base = nl_socket_get_cb(sock);
        index_cb = nl_cb_clone(base);
        nl_cb_put(base);
        if (index_cb == nullptr) return fail("open netlink socket: Cannot allocate memory");
        nl_cb_set(index_cb, NL_CB_VALID, NL_CB_CUSTOM, store_link_index, &found_index);
        // Ask for the kernel's explanation of refusals, without our request echoed back.
        // Kernels without these options just do not explain; that is not an error.
        int on = 1;
        int fd = nl_socket_get_fd(sock);
        ::setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &on, sizeof on);
        ::setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &on, sizeof on);
        // One recvmsg per answer instead of a MSG_PEEK first: the kernel never sends a single
        // datagram above 32 KiB to a socket that reads with a 64 KiB buffer.
        nl_socket_set_msg_buf_size(sock, 64 * 1024);
        nl_socket_disable_msg_peek(sock);
        return {};
    }

    void begin() { last = KernelError{}; }

    // errno of a failed call: the kernel's when it refused, else libnl's code translated.
    [[nodiscard]] int error_number(int rc) const {
        return last.number != 0 ? last.number : errno_of_nle(rc);
    }

    [[nodiscard]] std::string reason(int rc) const {
        if (last.number != 0) {
            std::string out = std::strerror(last.number);
            if (!last.text.empty()) out += " (" + last.text + ")";
            return out;
        }
        if (int number = errno_of_nle(rc); number != 0) return std::strerror(number);
        return nl_geterror(rc);
    }

    // Send a request built here and wait for the kernel's ack.
    int send(nl_msg* msg) {
        begin();
        int rc = nl_send_auto(sock, msg);
        if (rc < 0) return rc;
        return nl_wait_for_ack(sock);
    }

    // RTM_GETLINK by name. Returns 0 with `out` set, or a negative libnl code (ENODEV when
    // there is no such link).
    int lookup(const std::string& name, LinkPtr& out) {
        begin();
        rtnl_link* raw = nullptr;
        int rc = rtnl_link_get_kernel(sock, 0, name.c_str(), &raw);
        if (rc < 0) return rc;
        out.reset(raw);
        if (!out) {
            last.number = ENODEV;
            return -NLE_NODEV;
        }
        return 0;
    }

    Result<LinkPtr> get_link(const std::string& name) {
        if (auto ok = check_link_name(name); !ok) return std::unexpected(ok.error());
        LinkPtr link;
        if (int rc = lookup(name, link); rc < 0) return fail("link " + name + ": " + reason(rc));
        return link;
    }

    // Name -> index, the lookup every address and route operation starts with. Leaner than
    // rtnl_link_get_kernel(): the answer skips statistics and only its header is read, instead
    // of every attribute being parsed into an rtnl_link (most of the ~10 us is the round trip).
    int lookup_index(const std::string& name, int& index) {
        ifinfomsg ifi{};
        ifi.ifi_family = AF_UNSPEC;
        MsgPtr msg = new_message(RTM_GETLINK, 0, &ifi, sizeof ifi);
        if (!msg || nla_put_string(msg.get(), IFLA_IFNAME, name.c_str()) < 0 ||
            nla_put_u32(msg.get(), IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS) < 0)
            return -NLE_NOMEM;
        begin();
        found_index = 0;
        int rc = nl_send_auto(sock, msg.get());
        if (rc < 0) return rc;
        // The answer and the ack arrive as two datagrams; a refusal is a single one.
        if ((rc = nl_recvmsgs(sock, index_cb)) < 0) return rc;
        if ((rc = nl_wait_for_ack(sock)) < 0) return rc;
        if (found_index <= 0) {
            last.number = ENODEV;
            return -NLE_NODEV;
        }
        index = found_index;
        return 0;
    }

    Result<int> index_of(const std::string& name) {
        if (auto ok = check_link_name(name); !ok) return std::unexpected(ok.error());
        int index = 0;
        if (int rc = lookup_index(name, index); rc < 0)
            return fail("link " + name + ": " + reason(rc));
        return index;
    }

    // RTM_SETLINK addressed by name (ifi_index 0 + IFLA_IFNAME), so no lookup is needed.
    // Built here rather than with rtnl_link_change() to set ifi_change exactly: with
    // ifi_change 0 the kernel would replace ALL flags (dropping IFF_MULTICAST, which IPv6
    // neighbour discovery needs).
    Result<void> set_link(const std::string& context, const std::string& name, unsigned flags,
                          unsigned change, int mtu, int master) {
        if (auto ok = check_link_name(name); !ok) return wrap(ok.error(), context);
        ifinfomsg ifi{};
        ifi.ifi_family = AF_UNSPEC;
        ifi.ifi_flags = flags;
        ifi.ifi_change = change;
        MsgPtr msg = new_message(RTM_SETLINK, 0, &ifi, sizeof ifi);
        bool built = msg && nla_put_string(msg.get(), IFLA_IFNAME, name.c_str()) == 0;
        if (built && mtu > 0) built = nla_put_u32(msg.get(), IFLA_MTU, mtu) == 0;
        if (built && master > 0) built = nla_put_u32(msg.get(), IFLA_MASTER, master) == 0;
        if (!built) return fail(context + ": cannot build netlink message");
        if (int rc = send(msg.get()); rc < 0) return fail(context + ": " + reason(rc));
        return {};
    }

    // RTM_NEWROUTE / RTM_DELROUTE in the main table, spelled out like iproute2 does: a delete
    // leaves protocol, type and scope as wildcards (RT_SCOPE_NOWHERE) so it matches the route
    // whatever it was added with.
    int route(bool add, const IpPrefix& destination, const IpAddress* via, int ifindex) {
        rtmsg rtm{};
        rtm.rtm_family = static_cast<unsigned char>(destination.address.family);
        rtm.rtm_dst_len = static_cast<unsigned char>(destination.length);
        rtm.rtm_table = RT_TABLE_MAIN;
        if (add) {
            rtm.rtm_protocol = RTPROT_BOOT;
            rtm.rtm_type = RTN_UNICAST;
            rtm.rtm_scope = via != nullptr ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
        } else {
            rtm.rtm_scope = RT_SCOPE_NOWHERE;
        }
        MsgPtr msg = new_message(add ? RTM_NEWROUTE : RTM_DELROUTE,
                                 add ? NLM_F_CREATE | NLM_F_EXCL : 0, &rtm, sizeof rtm);
        if (!msg) return -NLE_NOMEM;
        IpAddress network = destination.network().address;
        bool built = true;
        if (destination.length > 0)
            built = nla_put(msg.get(), RTA_DST, static_cast<int>(network.size()),
                            network.bytes.data()) == 0;
        if (built && via != nullptr)
            built = nla_put(msg.get(), RTA_GATEWAY, static_cast<int>(via->size()),
                            via->bytes.data()) == 0;
        if (built) built = nla_put_u32(msg.get(), RTA_OIF, static_cast<uint32_t>(ifindex)) == 0;
        if (!built) return -NLE_NOMEM;
        return send(msg.get());
    }

    Result<void> add_route(const std::string& context, const IpPrefix& destination,
                           const IpAddress* via, const std::string& link) {
        if (destination.address.family != AF_INET && destination.address.family != AF_INET6)
            return fail(context + ": destination has no address family");
        if (via != nullptr && via->family != destination.address.family)
            return fail(context + ": gateway " + via->str() + " is not " +
                        family_name(destination.address));
        auto index = index_of(link);
        if (!index) return wrap(index.error(), context);
        int rc = route(true, destination, via, *index);
        if (rc < 0 && error_number(rc) != EEXIST) return fail(context + ": " + reason(rc));
        return {};
    }
};

NetlinkSocket::NetlinkSocket(std::unique_ptr<State> state) : state_(std::move(state)) {}
NetlinkSocket::NetlinkSocket(NetlinkSocket&&) noexcept = default;
NetlinkSocket& NetlinkSocket::operator=(NetlinkSocket&&) noexcept = default;
NetlinkSocket::~NetlinkSocket() = default;

Result<NetlinkSocket> NetlinkSocket::open_current() {
    auto state = std::make_unique<State>();
    if (auto ok = state->connect(); !ok) return std::unexpected(ok.error());
    return NetlinkSocket(std::move(state));
}

Result<NetlinkSocket> NetlinkSocket::open_in(int netns_fd) {
    // The kernel ties a netlink socket to the namespace of the task that creates it; a thread
    // that joined the namespace creates it and ends, and the socket keeps working from here.
    auto state = std::make_unique<State>();
    bool entered = false;
    auto ok = run_in_netns(netns_fd, [&] {
        entered = true;
        return state->connect();
    });
    if (!ok) {
        // The thread's own failure already says "open netlink socket"; a failed setns does not.
        if (entered) return std::unexpected(ok.error());
        return wrap(ok.error(), "open netlink socket");
    }
    return NetlinkSocket(std::move(state));
}

Result<int> NetlinkSocket::link_index(const std::string& name) {
    return state_->index_of(name);
}

Result<bool> NetlinkSocket::link_exists(const std::string& name) {
    if (auto ok = check_link_name(name); !ok) return std::unexpected(ok.error());
    int index = 0;
    int rc = state_->lookup_index(name, index);
    if (rc == 0) return true;
    if (state_->error_number(rc) == ENODEV) return false;
    return fail("link " + name + ": " + state_->reason(rc));
}

Result<void> NetlinkSocket::create_bridge(const std::string& name, int mtu) {
    std::string context = "create bridge " + name;
    if (auto ok = check_link_name(name); !ok) return wrap(ok.error(), context);
    if (mtu < 0) return fail(context + ": invalid mtu " + std::to_string(mtu));
    LinkPtr link(rtnl_link_bridge_alloc());
    if (!link) return fail(context + ": Cannot allocate memory");
    rtnl_link_set_name(link.get(), name.c_str());
    if (mtu > 0) rtnl_link_set_mtu(link.get(), static_cast<unsigned>(mtu));
    state_->begin();
    if (int rc = rtnl_link_add(state_->sock, link.get(), NLM_F_CREATE | NLM_F_EXCL); rc < 0)
        return fail(context + ": " + state_->reason(rc));
    return {};
}

Result<void> NetlinkSocket::create_veth(const std::string& host_name, const std::string& peer_name,
                                        int peer_netns_fd, int mtu) {
    std::string context = "create veth " + host_name + " (peer " + peer_name + ")";
    if (auto ok = check_link_name(host_name); !ok) return wrap(ok.error(), context);
    if (auto ok = check_link_name(peer_name); !ok) return wrap(ok.error(), context);
    if (peer_netns_fd < 0) return fail(context + ": no network namespace for the peer");
    if (mtu < 0) return fail(context + ": invalid mtu " + std::to_string(mtu));
    LinkPtr link(rtnl_link_veth_alloc());
    if (!link) return fail(context + ": Cannot allocate memory");
    LinkPtr peer(rtnl_link_veth_get_peer(link.get()));  // takes a reference of its own
    if (!peer) return fail(context + ": Cannot allocate memory");
    rtnl_link_set_name(link.get(), host_name.c_str());
    rtnl_link_set_name(peer.get(), peer_name.c_str());
    // IFLA_NET_NS_FD inside the peer's attributes: the kernel creates the peer in that
    // namespace, with no move (and no rename) afterwards.
    rtnl_link_set_ns_fd(peer.get(), peer_netns_fd);
    if (mtu > 0) {
        rtnl_link_set_mtu(link.get(), static_cast<unsigned>(mtu));
        rtnl_link_set_mtu(peer.get(), static_cast<unsigned>(mtu));
    }
    state_->begin();
    if (int rc = rtnl_link_add(state_->sock, link.get(), NLM_F_CREATE | NLM_F_EXCL); rc < 0)
        return fail(context + ": " + state_->reason(rc));
    return {};
}

Result<void> NetlinkSocket::set_up(const std::string& name) {
    return state_->set_link("set link " + name + " up", name, IFF_UP, IFF_UP, 0, 0);
}

Result<void> NetlinkSocket::set_down(const std::string& name) {
    return state_->set_link("set link " + name + " down", name, 0, IFF_UP, 0, 0);
}

Result<void> NetlinkSocket::set_master(const std::string& name, const std::string& bridge) {
    std::string context = "attach link " + name + " to bridge " + bridge;
    auto master = state_->index_of(bridge);
    if (!master) return wrap(master.error(), context);
    return state_->set_link(context, name, 0, 0, 0, *master);
}

Result<void> NetlinkSocket::set_hairpin(const std::string& name, bool on) {
    // A bridge sends a frame back out of the port it came in on only in hairpin mode: needed
    // when a pod reaches its own host port (DNAT sends the packet back towards it). iproute2:
    // `bridge link set dev NAME hairpin on`, i.e. RTM_SETLINK for AF_BRIDGE with
    // IFLA_PROTINFO { IFLA_BRPORT_MODE }.
    std::string context = "set hairpin mode on bridge port " + name;
    auto index = state_->index_of(name);
    if (!index) return wrap(index.error(), context);
    ifinfomsg ifi{};
    ifi.ifi_family = AF_BRIDGE;
    ifi.ifi_index = *index;
    MsgPtr msg = new_message(RTM_SETLINK, 0, &ifi, sizeof ifi);
    nlattr* protinfo = msg ? nla_nest_start(msg.get(), IFLA_PROTINFO | NLA_F_NESTED) : nullptr;
    bool built = protinfo != nullptr && nla_put_u8(msg.get(), IFLA_BRPORT_MODE, on ? 1 : 0) == 0;
    if (built) built = nla_nest_end(msg.get(), protinfo) == 0;
    if (!built) return fail(context + ": cannot build netlink message");
    if (int rc = state_->send(msg.get()); rc < 0) return fail(context + ": " + state_->reason(rc));
    return {};
}

Result<void> NetlinkSocket::set_mtu(const std::string& name, int mtu) {
    std::string context = "set mtu " + std::to_string(mtu) + " on link " + name;
    if (mtu <= 0) return fail(context + ": invalid mtu");
    return state_->set_link(context, name, 0, 0, mtu, 0);
}

Result<void> NetlinkSocket::delete_link(const std::string& name) {
    std::string context = "delete link " + name;
    if (auto ok = check_link_name(name); !ok) return wrap(ok.error(), context);
    LinkPtr link(rtnl_link_alloc());
    if (!link) return fail(context + ": Cannot allocate memory");
    rtnl_link_set_name(link.get(), name.c_str());  // RTM_DELLINK by name: one round trip
    state_->begin();
    int rc = rtnl_link_delete(state_->sock, link.get());
    if (rc < 0) {
        int number = state_->error_number(rc);
        if (number == ENODEV || number == ENOENT) return {};
        return fail(context + ": " + state_->reason(rc));
    }
    return {};
}

Result<std::vector<std::string>> NetlinkSocket::list_links(std::string_view prefix) {
    state_->begin();
    nl_cache* raw = nullptr;
    if (int rc = rtnl_link_alloc_cache(state_->sock, AF_UNSPEC, &raw); rc < 0)
        return fail("list links: " + state_->reason(rc));
    CachePtr cache(raw);
    std::vector<std::string> names;
    for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
         obj = nl_cache_get_next(obj)) {
        const char* name = rtnl_link_get_name(reinterpret_cast<rtnl_link*>(obj));
        if (name != nullptr && std::string_view(name).starts_with(prefix)) names.emplace_back(name);
    }
    return names;
}

Result<std::string> NetlinkSocket::link_mac(const std::string& name) {
    auto link = state_->get_link(name);
    if (!link) return std::unexpected(link.error());
    nl_addr* mac = rtnl_link_get_addr(link->get());
    if (mac == nullptr || nl_addr_get_len(mac) == 0)
        return fail("link " + name + ": no link-layer address");
    return format_mac(static_cast<const unsigned char*>(nl_addr_get_binary_addr(mac)),
                      nl_addr_get_len(mac));
}

Result<void> NetlinkSocket::add_address(const std::string& link, const IpPrefix& address) {
    std::string context = "add address " + address.str() + " to link " + link;
    const IpAddress& ip = address.address;
    if (ip.family != AF_INET && ip.family != AF_INET6) return fail(context + ": no address family");
    auto index = state_->index_of(link);
    if (!index) return wrap(index.error(), context);
    RtAddrPtr request(rtnl_addr_alloc());
    NlAddrPtr local = to_nl_addr(ip, address.length);
    if (!request || !local) return fail(context + ": Cannot allocate memory");
    rtnl_addr_set_ifindex(request.get(), *index);
    rtnl_addr_set_family(request.get(), ip.family);
    if (int rc = rtnl_addr_set_local(request.get(), local.get()); rc < 0)
        return fail(context + ": " + nl_geterror(rc));
    rtnl_addr_set_prefixlen(request.get(), address.length);
    if (ip.is_v4() && address.length <= 30) {
        // As `ip addr add ... brd +`: without it the subnet broadcast is not a local address.
        NlAddrPtr broadcast = to_nl_addr(address.last(), 32);
        if (!broadcast) return fail(context + ": Cannot allocate memory");
        if (int rc = rtnl_addr_set_broadcast(request.get(), broadcast.get()); rc < 0)
            return fail(context + ": " + nl_geterror(rc));
    }
    // No duplicate address detection: the pod must be able to use the address immediately,
    // and addresses come from our own allocator, so a duplicate is not expected.
    if (ip.is_v6()) rtnl_addr_set_flags(request.get(), IFA_F_NODAD);
    state_->begin();
    int rc = rtnl_addr_add(state_->sock, request.get(), NLM_F_EXCL);
    if (rc < 0 && state_->error_number(rc) != EEXIST)
        return fail(context + ": " + state_->reason(rc));
    return {};
}

Result<std::vector<IpPrefix>> NetlinkSocket::addresses(const std::string& link) {
    std::string context = "list addresses of link " + link;
    auto index = state_->index_of(link);
    if (!index) return wrap(index.error(), context);
    state_->begin();
    nl_cache* raw = nullptr;
    if (int rc = rtnl_addr_alloc_cache(state_->sock, &raw); rc < 0)
        return fail(context + ": " + state_->reason(rc));
    CachePtr cache(raw);
    std::vector<IpPrefix> out;
    for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
         obj = nl_cache_get_next(obj)) {
        auto* addr = reinterpret_cast<rtnl_addr*>(obj);
        if (rtnl_addr_get_ifindex(addr) != *index) continue;
        int family = rtnl_addr_get_family(addr);
        nl_addr* local = rtnl_addr_get_local(addr);
        if ((family != AF_INET && family != AF_INET6) || local == nullptr) continue;
        IpPrefix prefix;
        prefix.address.family = family;
        size_t size = std::min<size_t>(nl_addr_get_len(local), prefix.address.bytes.size());
        std::memcpy(prefix.address.bytes.data(), nl_addr_get_binary_addr(local), size);
        prefix.length = rtnl_addr_get_prefixlen(addr);
        out.push_back(prefix);
    }
    std::stable_partition(out.begin(), out.end(),
                          [](const IpPrefix& p) { return p.address.is_v4(); });
    return out;
}

Result<void> NetlinkSocket::add_default_route(const std::string& link, const IpAddress& gateway) {
    std::string context = "add default route via " + gateway.str() + " dev " + link;
    if (gateway.family != AF_INET && gateway.family != AF_INET6)
        return fail(context + ": gateway has no address family");
    IpPrefix any;
    any.address.family = gateway.family;
    any.length = 0;
    return state_->add_route(context, any, &gateway, link);
}

Result<void> NetlinkSocket::add_route(const IpPrefix& destination,
                                      const std::optional<IpAddress>& via,
                                      const std::string& link) {
    std::string context = "add route " + destination.network().str();
    if (via) context += " via " + via->str();
    context += " dev " + link;
    return state_->add_route(context, destination, via ? &*via : nullptr, link);
}

Result<void> NetlinkSocket::delete_route(const IpPrefix& destination, const std::string& link) {
    std::string context = "delete route " + destination.network().str() + " dev " + link;
    if (destination.address.family != AF_INET && destination.address.family != AF_INET6)
        return fail(context + ": destination has no address family");
    if (auto ok = check_link_name(link); !ok) return wrap(ok.error(), context);
    int index = 0;
    if (int rc = state_->lookup_index(link, index); rc < 0) {
        // Routes through a link go with it: a missing link has none left to delete.
        if (state_->error_number(rc) == ENODEV) return {};
        return fail(context + ": link " + link + ": " + state_->reason(rc));
    }
    int rc = state_->route(false, destination, nullptr, index);
    if (rc < 0) {
        int number = state_->error_number(rc);
        if (number == ESRCH || number == ENOENT) return {};
        return fail(context + ": " + state_->reason(rc));
    }
    return {};
}

}  // namespace podnet

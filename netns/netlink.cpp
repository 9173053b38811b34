#include "netns/netlink.hpp"

#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
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
#include <netlink/route/link/vxlan.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>

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

// Hands each answer to a dump request to the State's current consumer.
int deliver_dump_message(nl_msg* msg, void* arg) {
    auto& each = *static_cast<std::function<void(nlmsghdr*)>*>(arg);
    if (each) each(nlmsg_hdr(msg));
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

using Mac = std::array<uint8_t, 6>;

// "aa:bb:cc:dd:ee:ff", either case. Ethernet only: VXLAN devices are Ethernet devices.
bool parse_mac(const std::string& text, Mac& out) {
    if (text.size() != 17) return false;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (size_t i = 0; i < out.size(); ++i) {
        int high = nibble(text[i * 3]);
        int low = nibble(text[i * 3 + 1]);
        if (high < 0 || low < 0 || (i < 5 && text[i * 3 + 2] != ':')) return false;
        out[i] = static_cast<uint8_t>(high << 4 | low);
    }
    return true;
}

// An address attribute (RTA_DST, NDA_DST, ...): 4 bytes IPv4, 16 bytes IPv6, else none.
std::optional<IpAddress> address_attribute(const nlattr* attr) {
    if (attr == nullptr) return std::nullopt;
    IpAddress out;
    int length = nla_len(attr);
    if (length == 4) {
        out.family = AF_INET;
    } else if (length == 16) {
        out.family = AF_INET6;
    } else {
        return std::nullopt;
    }
    std::memcpy(out.bytes.data(), nla_data(attr), static_cast<size_t>(length));
    return out;
}

bool put_address(nl_msg* msg, int type, const IpAddress& address) {
    return nla_put(msg, type, static_cast<int>(address.size()), address.bytes.data()) == 0;
}

bool is_ip(const IpAddress& address) {
    return address.family == AF_INET || address.family == AF_INET6;
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
    nl_cb* dump_cb = nullptr;  // the socket's callbacks + deliver_dump_message
    std::function<void(nlmsghdr*)> dump_consumer;
    KernelError last;

    State() = default;
    State(const State&) = delete;
    State& operator=(const State&) = delete;
    ~State() {
        if (index_cb != nullptr) nl_cb_put(index_cb);
        if (dump_cb != nullptr) nl_cb_put(dump_cb);
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
        dump_cb = nl_cb_clone(base);
        nl_cb_put(base);
        if (index_cb == nullptr || dump_cb == nullptr)
            return fail("open netlink socket: Cannot allocate memory");
        nl_cb_set(index_cb, NL_CB_VALID, NL_CB_CUSTOM, store_link_index, &found_index);
        nl_cb_set(dump_cb, NL_CB_VALID, NL_CB_CUSTOM, deliver_dump_message, &dump_consumer);
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

    // A dump request (NLM_F_DUMP): every answer goes to `each`, until the kernel's
    // NLMSG_DONE. Dumps get no ack, even when asked for one. A dump the kernel marks
    // inconsistent (NLM_F_DUMP_INTR: the table changed between two parts; libnl reads the rest
    // and reports it) is asked for again, after `restart` has dropped what `each` kept.
    int dump(nl_msg* request, const std::function<void(nlmsghdr*)>& each,
             const std::function<void()>& restart) {
        for (int attempt = 1;; ++attempt) {
            begin();
            nlmsg_hdr(request)->nlmsg_seq = NL_AUTO_SEQ;  // a fresh sequence number each time
            int rc = nl_send_auto(sock, request);
            if (rc < 0) return rc;
            dump_consumer = each;
            rc = nl_recvmsgs(sock, dump_cb);
            dump_consumer = nullptr;
            if (rc != -NLE_DUMP_INTR || attempt == 3) return rc < 0 ? rc : 0;
            restart();
        }
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
    // whatever it was added with. `add_flags`: NLM_F_EXCL to add, NLM_F_REPLACE to replace.
    int route(bool add, const IpPrefix& destination, const IpAddress* via, int ifindex,
              int add_flags = NLM_F_EXCL, bool onlink = false) {
        rtmsg rtm{};
        rtm.rtm_family = static_cast<unsigned char>(destination.address.family);
        rtm.rtm_dst_len = static_cast<unsigned char>(destination.length);
        rtm.rtm_table = RT_TABLE_MAIN;
        if (add) {
            rtm.rtm_protocol = RTPROT_BOOT;
            rtm.rtm_type = RTN_UNICAST;
            rtm.rtm_scope = via != nullptr ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
            if (onlink) rtm.rtm_flags = RTNH_F_ONLINK;
        } else {
            rtm.rtm_scope = RT_SCOPE_NOWHERE;
        }
        MsgPtr msg = new_message(add ? RTM_NEWROUTE : RTM_DELROUTE,
                                 add ? NLM_F_CREATE | add_flags : 0, &rtm, sizeof rtm);
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

    // RTM_NEWNEIGH / RTM_DELNEIGH. `family` AF_INET or AF_INET6 for the neighbour tables;
    // AF_BRIDGE with NTF_SELF for a device's own forwarding database (a VXLAN device's, not a
    // bridge's it might be a port of). Adds are permanent.
    int neighbour(bool add, int family, int ifindex, uint8_t ntf_flags, const IpAddress* dst,
                  const Mac* mac) {
        ndmsg ndm{};
        ndm.ndm_family = static_cast<uint8_t>(family);
        ndm.ndm_ifindex = ifindex;
        ndm.ndm_flags = ntf_flags;
        if (add) ndm.ndm_state = NUD_PERMANENT;
        MsgPtr msg = new_message(add ? RTM_NEWNEIGH : RTM_DELNEIGH,
                                 add ? NLM_F_CREATE | NLM_F_REPLACE : 0, &ndm, sizeof ndm);
        if (!msg) return -NLE_NOMEM;
        bool built = true;
        if (dst != nullptr) built = put_address(msg.get(), NDA_DST, *dst);
        if (built && mac != nullptr)
            built = nla_put(msg.get(), NDA_LLADDR, static_cast<int>(mac->size()), mac->data()) == 0;
        if (!built) return -NLE_NOMEM;
        return send(msg.get());
    }

    // The index of a link that may be gone: 0 when it is (a delete has nothing to do then).
    Result<int> index_if_present(const std::string& context, const std::string& link) {
        if (auto ok = check_link_name(link); !ok) return wrap(ok.error(), context);
        int index = 0;
        if (int rc = lookup_index(link, index); rc < 0) {
            if (error_number(rc) == ENODEV) return 0;
            return fail(context + ": link " + link + ": " + reason(rc));
        }
        return index;
    }

    // A link's name from its index, for messages ("index 7" if it cannot be had).
    std::string name_of(int index) {
        begin();
        rtnl_link* raw = nullptr;
        LinkPtr link;
        if (rtnl_link_get_kernel(sock, index, nullptr, &raw) == 0) link.reset(raw);
        const char* name = link ? rtnl_link_get_name(link.get()) : nullptr;
        return name != nullptr ? std::string(name) : "index " + std::to_string(index);
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

Result<void> NetlinkSocket::create_vxlan(const VxlanSpec& spec) {
    std::string context = "create vxlan " + spec.name + " (vni " + std::to_string(spec.vni) + ")";
    if (auto ok = check_link_name(spec.name); !ok) return wrap(ok.error(), context);
    if (spec.vni > 0xffffff) return fail(context + ": vni above 16777215");
    if (spec.port == 0) return fail(context + ": no UDP port");
    if (spec.mtu < 0) return fail(context + ": invalid mtu " + std::to_string(spec.mtu));
    if (spec.local && !is_ip(*spec.local)) return fail(context + ": local address has no family");
    int underlay = 0;
    if (!spec.underlay.empty()) {
        auto index = state_->index_of(spec.underlay);
        if (!index) return wrap(index.error(), context + ": underlay");
        underlay = *index;
    }

    // Built here rather than with libnl's vxlan module: libnl 3.7 sends IFLA_VXLAN_PORT as a
    // 4-byte attribute where the kernel wants a __be16 (it works on little-endian machines only
    // by accident, and the kernel logs "attribute type 15 has an invalid length").
    ifinfomsg ifi{};
    ifi.ifi_family = AF_UNSPEC;
    MsgPtr msg = new_message(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof ifi);
    bool built = msg && nla_put_string(msg.get(), IFLA_IFNAME, spec.name.c_str()) == 0;
    if (built && spec.mtu > 0) built = nla_put_u32(msg.get(), IFLA_MTU, spec.mtu) == 0;
    nlattr* info = built ? nla_nest_start(msg.get(), IFLA_LINKINFO | NLA_F_NESTED) : nullptr;
    built = info != nullptr && nla_put_string(msg.get(), IFLA_INFO_KIND, "vxlan") == 0;
    nlattr* data = built ? nla_nest_start(msg.get(), IFLA_INFO_DATA | NLA_F_NESTED) : nullptr;
    built = data != nullptr && nla_put_u32(msg.get(), IFLA_VXLAN_ID, spec.vni) == 0;
    if (built && spec.local)
        built = put_address(msg.get(), spec.local->is_v4() ? IFLA_VXLAN_LOCAL : IFLA_VXLAN_LOCAL6,
                            *spec.local);
    if (built && underlay > 0)
        built = nla_put_u32(msg.get(), IFLA_VXLAN_LINK, static_cast<uint32_t>(underlay)) == 0;
    if (built) built = nla_put_u16(msg.get(), IFLA_VXLAN_PORT, htons(spec.port)) == 0;
    // The kernel learns by default: say no explicitly.
    if (built) built = nla_put_u8(msg.get(), IFLA_VXLAN_LEARNING, spec.learning ? 1 : 0) == 0;
    if (built) built = nla_nest_end(msg.get(), data) == 0 && nla_nest_end(msg.get(), info) == 0;
    if (!built) return fail(context + ": cannot build netlink message");
    int rc = state_->send(msg.get());
    if (rc == 0) return {};
    if (state_->error_number(rc) != EEXIST) return fail(context + ": " + state_->reason(rc));

    // EEXIST: a link of that name (then compare), or another VXLAN device with the same VNI,
    // port and local address (then the kernel's own words say so).
    std::string refusal = state_->reason(rc);
    LinkPtr existing;
    if (int found = state_->lookup(spec.name, existing); found < 0) {
        if (state_->error_number(found) == ENODEV) return fail(context + ": " + refusal);
        return fail(context + ": link " + spec.name + ": " + state_->reason(found));
    }
    const char* kind = rtnl_link_get_type(existing.get());
    if (kind == nullptr || std::string_view(kind) != "vxlan")
        return fail(context + ": link " + spec.name + " exists and is " +
                    (kind != nullptr ? "a " + std::string(kind) + " link" : "not a vxlan link"));
    if (!rtnl_link_is_vxlan(existing.get()))  // libnl did not parse IFLA_INFO_DATA
        return fail(context + ": link " + spec.name + " exists; cannot read its vxlan attributes");
    std::vector<std::string> differences;
    uint32_t vni = 0;
    if (rtnl_link_vxlan_get_id(existing.get(), &vni) < 0 || vni != spec.vni)
        differences.push_back("vni " + std::to_string(vni) + " (want " + std::to_string(spec.vni) +
                              ")");
    uint32_t port = 0;
    if (rtnl_link_vxlan_get_port(existing.get(), &port) < 0 || port != spec.port)
        differences.push_back("port " + std::to_string(port) + " (want " +
                              std::to_string(spec.port) + ")");
    if (spec.local) {
        nl_addr* raw = nullptr;
        NlAddrPtr local;
        if (rtnl_link_vxlan_get_local(existing.get(), &raw) == 0) local.reset(raw);
        std::optional<IpAddress> have;
        if (local && (nl_addr_get_len(local.get()) == 4 || nl_addr_get_len(local.get()) == 16)) {
            IpAddress a;
            a.family = nl_addr_get_len(local.get()) == 4 ? AF_INET : AF_INET6;
            std::memcpy(a.bytes.data(), nl_addr_get_binary_addr(local.get()), a.size());
            have = a;
        }
        if (have != spec.local)
            differences.push_back((have ? "local " + have->str() : std::string("no local")) +
                                  " (want " + spec.local->str() + ")");
    }
    if (underlay > 0) {
        uint32_t have = 0;
        if (rtnl_link_vxlan_get_link(existing.get(), &have) < 0) have = 0;
        if (have != static_cast<uint32_t>(underlay))
            differences.push_back((have > 0 ? "dev " + state_->name_of(static_cast<int>(have))
                                            : std::string("no underlay dev")) +
                                  " (want " + spec.underlay + ")");
    }
    int learning = rtnl_link_vxlan_get_learning(existing.get());
    if (learning >= 0 && (learning != 0) != spec.learning)
        differences.push_back(std::string(learning != 0 ? "learning" : "nolearning") + " (want " +
                              (spec.learning ? "learning" : "nolearning") + ")");
    if (!differences.empty()) {
        std::string list;
        for (const auto& d : differences) list += (list.empty() ? "" : ", ") + d;
        return fail(context + ": link " + spec.name + " exists with " + list);
    }
    if (spec.mtu > 0 && rtnl_link_get_mtu(existing.get()) != static_cast<unsigned>(spec.mtu))
        return state_->set_link(context + ": set mtu " + std::to_string(spec.mtu), spec.name, 0, 0,
                                spec.mtu, 0);
    return {};
}

namespace {

// The request naming `address` on the link with index `index`, for add and delete alike.
Result<RtAddrPtr> address_request(int index, const IpPrefix& address, const std::string& context) {
    const IpAddress& ip = address.address;
    if (ip.family != AF_INET && ip.family != AF_INET6) return fail(context + ": no address family");
    RtAddrPtr request(rtnl_addr_alloc());
    NlAddrPtr local = to_nl_addr(ip, address.length);
    if (!request || !local) return fail(context + ": Cannot allocate memory");
    rtnl_addr_set_ifindex(request.get(), index);
    rtnl_addr_set_family(request.get(), ip.family);
    if (int rc = rtnl_addr_set_local(request.get(), local.get()); rc < 0)
        return fail(context + ": " + nl_geterror(rc));
    rtnl_addr_set_prefixlen(request.get(), address.length);
    return request;
}

}  // namespace

Result<void> NetlinkSocket::add_address(const std::string& link, const IpPrefix& address) {
    std::string context = "add address " + address.str() + " to link " + link;
    const IpAddress& ip = address.address;
    auto index = state_->index_of(link);
    if (!index) return wrap(index.error(), context);
    auto made = address_request(*index, address, context);
    if (!made) return std::unexpected(made.error());
    RtAddrPtr& request = *made;
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

Result<void> NetlinkSocket::delete_address(const std::string& link, const IpPrefix& address) {
    std::string context = "delete address " + address.str() + " from link " + link;
    auto index = state_->index_of(link);
    if (!index) return wrap(index.error(), context);
    auto request = address_request(*index, address, context);
    if (!request) return std::unexpected(request.error());
    state_->begin();
    int rc = rtnl_addr_delete(state_->sock, request->get(), 0);
    if (rc < 0 && state_->error_number(rc) != EADDRNOTAVAIL)
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
    auto index = state_->index_if_present(context, link);
    if (!index) return std::unexpected(index.error());
    // Routes through a link go with it: a missing link has none left to delete.
    if (*index == 0) return {};
    int rc = state_->route(false, destination, nullptr, *index);
    if (rc < 0) {
        int number = state_->error_number(rc);
        if (number == ESRCH || number == ENOENT) return {};
        return fail(context + ": " + state_->reason(rc));
    }
    return {};
}

Result<void> NetlinkSocket::replace_route(const IpPrefix& destination,
                                          const std::optional<IpAddress>& via,
                                          const std::string& link, bool onlink) {
    std::string context = "replace route " + destination.network().str();
    if (via) context += " via " + via->str();
    context += " dev " + link;
    if (onlink) context += " onlink";
    if (!is_ip(destination.address)) return fail(context + ": destination has no address family");
    if (via && via->family != destination.address.family)
        return fail(context + ": gateway " + via->str() + " is not " +
                    family_name(destination.address));
    if (onlink && !via) return fail(context + ": onlink needs a gateway");
    auto index = state_->index_of(link);
    if (!index) return wrap(index.error(), context);
    if (int rc =
            state_->route(true, destination, via ? &*via : nullptr, *index, NLM_F_REPLACE, onlink);
        rc < 0)
        return fail(context + ": " + state_->reason(rc));
    return {};
}

Result<std::vector<RouteEntry>> NetlinkSocket::routes(const std::string& link) {
    std::string context = "list routes of link " + link;
    auto index = state_->index_of(link);
    if (!index) return wrap(index.error(), context);
    std::vector<RouteEntry> out;
    std::vector<RouteEntry> batch;  // one family's dump
    auto keep = [&](nlmsghdr* hdr) {
        if (hdr->nlmsg_type != RTM_NEWROUTE || hdr->nlmsg_len < NLMSG_LENGTH(sizeof(rtmsg))) return;
        const auto* rtm = static_cast<const rtmsg*>(nlmsg_data(hdr));
        if ((rtm->rtm_family != AF_INET && rtm->rtm_family != AF_INET6) ||
            rtm->rtm_type != RTN_UNICAST || rtm->rtm_protocol == RTPROT_KERNEL ||
            (rtm->rtm_flags & RTM_F_CLONED) != 0)
            return;
        nlattr* tb[RTA_MAX + 1] = {};
        if (nlmsg_parse(hdr, sizeof(rtmsg), tb, RTA_MAX, nullptr) < 0) return;
        // rtm_table is a byte: table ids above 255 are only in RTA_TABLE.
        uint32_t table = tb[RTA_TABLE] != nullptr ? nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
        if (table != RT_TABLE_MAIN || tb[RTA_MULTIPATH] != nullptr || tb[RTA_OIF] == nullptr ||
            nla_get_u32(tb[RTA_OIF]) != static_cast<uint32_t>(*index))
            return;
        RouteEntry entry;
        entry.destination.address.family = rtm->rtm_family;
        entry.destination.length = rtm->rtm_dst_len;
        if (auto dst = address_attribute(tb[RTA_DST]); dst && dst->family == rtm->rtm_family)
            entry.destination.address = *dst;
        if (auto gw = address_attribute(tb[RTA_GATEWAY]); gw && gw->family == rtm->rtm_family)
            entry.via = gw;
        entry.onlink = (rtm->rtm_flags & RTNH_F_ONLINK) != 0;
        batch.push_back(entry);
    };
    for (int family : {AF_INET, AF_INET6}) {
        rtmsg rtm{};
        rtm.rtm_family = static_cast<unsigned char>(family);
        MsgPtr msg = new_message(RTM_GETROUTE, NLM_F_DUMP, &rtm, sizeof rtm);
        if (!msg) return fail(context + ": cannot build netlink message");
        batch.clear();
        if (int rc = state_->dump(msg.get(), keep, [&] { batch.clear(); }); rc < 0)
            return fail(context + ": " + state_->reason(rc));
        out.insert(out.end(), batch.begin(), batch.end());
    }
    std::sort(out.begin(), out.end());
    return out;
}

Result<void> NetlinkSocket::replace_neighbour(const std::string& link, const IpAddress& ip,
                                              const std::string& mac) {
    std::string context = "replace neighbour " + ip.str() + " lladdr " + mac + " dev " + link;
    if (!is_ip(ip)) return fail(context + ": address has no family");
    Mac bytes{};
    if (!parse_mac(mac, bytes)) return fail(context + ": not a MAC address");
    auto index = state_->index_of(link);
    if (!index) return wrap(index.error(), context);
    if (int rc = state_->neighbour(true, ip.family, *index, 0, &ip, &bytes); rc < 0)
        return fail(context + ": " + state_->reason(rc));
    return {};
}

Result<void> NetlinkSocket::delete_neighbour(const std::string& link, const IpAddress& ip) {
    std::string context = "delete neighbour " + ip.str() + " dev " + link;
    if (!is_ip(ip)) return fail(context + ": address has no family");
    auto index = state_->index_if_present(context, link);
    if (!index) return std::unexpected(index.error());
    if (*index == 0) return {};
    if (int rc = state_->neighbour(false, ip.family, *index, 0, &ip, nullptr); rc < 0) {
        if (state_->error_number(rc) == ENOENT) return {};
        return fail(context + ": " + state_->reason(rc));
    }
    return {};
}

Result<std::vector<Neighbour>> NetlinkSocket::neighbours(const std::string& link) {
    std::string context = "list neighbours of link " + link;
    auto index = state_->index_of(link);
    if (!index) return wrap(index.error(), context);
    std::vector<Neighbour> out;
    auto keep = [&](nlmsghdr* hdr) {
        if (hdr->nlmsg_type != RTM_NEWNEIGH || hdr->nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg))) return;
        const auto* ndm = static_cast<const ndmsg*>(nlmsg_data(hdr));
        if ((ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6) ||
            ndm->ndm_ifindex != *index || (ndm->ndm_state & NUD_PERMANENT) == 0)
            return;
        nlattr* tb[NDA_MAX + 1] = {};
        if (nlmsg_parse(hdr, sizeof(ndmsg), tb, NDA_MAX, nullptr) < 0) return;
        auto ip = address_attribute(tb[NDA_DST]);
        if (!ip || ip->family != ndm->ndm_family || tb[NDA_LLADDR] == nullptr) return;
        out.push_back(
            Neighbour{*ip, format_mac(static_cast<const unsigned char*>(nla_data(tb[NDA_LLADDR])),
                                      static_cast<unsigned>(nla_len(tb[NDA_LLADDR])))});
    };
    // One dump for ARP and NDP (AF_UNSPEC), filtered to the link by the kernel (NDA_IFINDEX)
    // as well as here.
    ndmsg ndm{};
    ndm.ndm_family = AF_UNSPEC;
    MsgPtr msg = new_message(RTM_GETNEIGH, NLM_F_DUMP, &ndm, sizeof ndm);
    if (!msg || nla_put_u32(msg.get(), NDA_IFINDEX, static_cast<uint32_t>(*index)) < 0)
        return fail(context + ": cannot build netlink message");
    if (int rc = state_->dump(msg.get(), keep, [&] { out.clear(); }); rc < 0)
        return fail(context + ": " + state_->reason(rc));
    std::sort(out.begin(), out.end());
    return out;
}

Result<void> NetlinkSocket::replace_fdb(const std::string& link, const std::string& mac,
                                        const IpAddress& dst) {
    std::string context = "replace fdb entry " + mac + " dst " + dst.str() + " dev " + link;
    if (!is_ip(dst)) return fail(context + ": destination has no address family");
    Mac bytes{};
    if (!parse_mac(mac, bytes)) return fail(context + ": not a MAC address");
    auto index = state_->index_of(link);
    if (!index) return wrap(index.error(), context);
    if (int rc = state_->neighbour(true, AF_BRIDGE, *index, NTF_SELF, &dst, &bytes); rc < 0)
        return fail(context + ": " + state_->reason(rc));
    return {};
}

Result<void> NetlinkSocket::delete_fdb(const std::string& link, const std::string& mac,
                                       const IpAddress& dst) {
    std::string context = "delete fdb entry " + mac + " dst " + dst.str() + " dev " + link;
    if (!is_ip(dst)) return fail(context + ": destination has no address family");
    Mac bytes{};
    if (!parse_mac(mac, bytes)) return fail(context + ": not a MAC address");
    auto index = state_->index_if_present(context, link);
    if (!index) return std::unexpected(index.error());
    if (*index == 0) return {};
    if (int rc = state_->neighbour(false, AF_BRIDGE, *index, NTF_SELF, &dst, &bytes); rc < 0) {
        if (state_->error_number(rc) == ENOENT) return {};
        return fail(context + ": " + state_->reason(rc));
    }
    return {};
}

Result<std::vector<FdbEntry>> NetlinkSocket::fdb_entries(const std::string& link) {
    std::string context = "list fdb entries of link " + link;
    auto index = state_->index_of(link);
    if (!index) return wrap(index.error(), context);
    std::vector<FdbEntry> out;
    auto keep = [&](nlmsghdr* hdr) {
        if (hdr->nlmsg_type != RTM_NEWNEIGH || hdr->nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg))) return;
        const auto* ndm = static_cast<const ndmsg*>(nlmsg_data(hdr));
        if (ndm->ndm_family != AF_BRIDGE || ndm->ndm_ifindex != *index) return;
        nlattr* tb[NDA_MAX + 1] = {};
        if (nlmsg_parse(hdr, sizeof(ndmsg), tb, NDA_MAX, nullptr) < 0) return;
        auto dst = address_attribute(tb[NDA_DST]);
        if (!dst || tb[NDA_LLADDR] == nullptr || nla_len(tb[NDA_LLADDR]) != 6) return;
        out.push_back(FdbEntry{
            format_mac(static_cast<const unsigned char*>(nla_data(tb[NDA_LLADDR])), 6), *dst});
    };
    // Like `bridge fdb show dev LINK`: an ifinfomsg-sized header makes the kernel read
    // ifi_index as the one device to dump (an ndmsg-sized one would dump every device).
    ifinfomsg ifi{};
    ifi.ifi_family = AF_BRIDGE;
    ifi.ifi_index = *index;
    MsgPtr msg = new_message(RTM_GETNEIGH, NLM_F_DUMP, &ifi, sizeof ifi);
    if (!msg) return fail(context + ": cannot build netlink message");
    if (int rc = state_->dump(msg.get(), keep, [&] { out.clear(); }); rc < 0)
        return fail(context + ": " + state_->reason(rc));
    std::sort(out.begin(), out.end());
    return out;
}

}  // namespace podnet

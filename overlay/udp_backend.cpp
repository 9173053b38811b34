// The udp backend: flannel's first design (flannel0 + flanneld), with podnet's own userspace
// forwarder. A TUN device carries the whole cluster network; the agent reads each IP packet from
// it, looks up the node whose subnet holds the destination and sends the packet in one UDP
// datagram to that node's public address; datagrams arriving on the UDP port are written back
// into the TUN device. One epoll loop; the socket side is batched (recvmmsg/sendmmsg, up to 64
// packets a system call). MTU = underlay - 28 (IPv4 + UDP headers).
//
// The TUN device is persistent, so an agent restart finds it (with its address and route) and
// only packets sent during the gap are lost, which TCP retransmits.

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/unique_fd.hpp"
#include "overlay/backend.hpp"
#include "overlay/udp_backend.hpp"

namespace podnet::overlay {

namespace {

constexpr int batch = 64;
constexpr size_t max_packet = 65536;
constexpr ssize_t vnet_header = 10;  // sizeof(struct virtio_net_hdr), the TUN default

// Subnet -> the node's public address, swapped whole on every reconcile. Every subnet has the
// configured length, so the lookup is one hash of the destination's top bits.
struct Routes {
    int shift = 8;  // 32 - subnet length
    std::unordered_map<uint32_t, sockaddr_in> by_subnet;

    [[nodiscard]] const sockaddr_in* find(const uint8_t* dst) const {
        uint32_t a = 0;
        std::memcpy(&a, dst, 4);
        auto it = by_subnet.find(ntohl(a) >> shift);
        return it == by_subnet.end() ? nullptr : &it->second;
    }
};

class Udp final : public OverlayBackend {
  public:
    Udp(const OverlayConfig& config, const LocalNode& local, NetlinkSocket& nl)
        : config_(config), local_(local), nl_(nl) {}

    ~Udp() override {
        if (thread_.joinable()) {
            uint64_t one = 1;
            (void)!::write(stop_.get(), &one, sizeof one);
            thread_.join();
        }
    }

    Result<nlohmann::json> prepare() override {
        if (!local_.public_ip.is_v4()) return fail("overlay udp: IPv4 underlay only");
        tun_.reset(::open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK));
        if (!tun_) return fail_errno("overlay udp: open /dev/net/tun", errno);
        ifreq req{};
        // With a virtio-net header on every packet the kernel hands over (and takes back) TCP
        // segments of up to 64 KiB and leaves checksums to the far end: one read, one
        // datagram and one write move ~40 MTU-sized packets.
        req.ifr_flags = IFF_TUN | IFF_NO_PI | IFF_VNET_HDR;
        std::strncpy(req.ifr_name, udp_tun_name, IFNAMSIZ - 1);
        if (::ioctl(tun_.get(), TUNSETIFF, &req) != 0)
            return fail_errno(std::string("overlay udp: TUN device ") + udp_tun_name, errno);
        unsigned offload = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
        if (::ioctl(tun_.get(), TUNSETOFFLOAD, offload) != 0)
            return fail_errno(std::string("overlay udp: offloads on ") + udp_tun_name, errno);
        if (::ioctl(tun_.get(), TUNSETPERSIST, 1) != 0)
            return fail_errno(std::string("overlay udp: make ") + udp_tun_name + " persistent",
                              errno);
        if (auto r = nl_.set_mtu(udp_tun_name, pod_mtu()); !r)
            return wrap(r.error(), "overlay udp");
        if (auto r = nl_.set_up(udp_tun_name); !r) return wrap(r.error(), "overlay udp");

        socket_.reset(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        if (!socket_) return fail_errno("overlay udp: socket", errno);
        // Datagrams up to 64 KiB leave fragmented and arrive reassembled by the kernels.
        int pmtu = IP_PMTUDISC_DONT;
        ::setsockopt(socket_.get(), IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
        int size = 4 << 20;
        ::setsockopt(socket_.get(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
        ::setsockopt(socket_.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(config_.port);
        std::memcpy(&addr.sin_addr, local_.public_ip.bytes.data(), 4);
        if (::bind(socket_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
            return fail_errno(
                "overlay udp: bind " + local_.public_ip.str() + ":" + std::to_string(config_.port),
                errno);
        stop_.reset(::eventfd(0, EFD_CLOEXEC));
        if (!stop_) return fail_errno("overlay udp: eventfd", errno);
        thread_ = std::thread([this] { forward(); });
        return nlohmann::json::object();
    }

    Result<void> activate(const Lease& own) override {
        // The whole cluster network through the TUN device; the node's own subnet stays more
        // specific on its bridge.
        IpPrefix address{own.subnet.network().address, 32};
        if (auto r = nl_.add_address(udp_tun_name, address); !r)
            return wrap(r.error(), "overlay udp");
        if (auto r = nl_.replace_route(config_.network, std::nullopt, udp_tun_name, false); !r)
            return wrap(r.error(), "overlay udp");
        return {};
    }

    Result<void> reconcile(const std::vector<Lease>& others) override {
        auto routes = std::make_shared<Routes>();
        routes->shift = 32 - config_.subnet_len;
        for (const auto& l : others) {
            if (l.backend != Backend::udp || !l.public_ip.is_v4() ||
                l.subnet.length != config_.subnet_len)
                continue;
            sockaddr_in node{};
            node.sin_family = AF_INET;
            node.sin_port = htons(config_.port);
            std::memcpy(&node.sin_addr, l.public_ip.bytes.data(), 4);
            uint32_t net = 0;
            std::memcpy(&net, l.subnet.network().address.bytes.data(), 4);
            routes->by_subnet[ntohl(net) >> routes->shift] = node;
        }
        std::lock_guard lock(routes_mutex_);
        routes_ = std::move(routes);
        return {};
    }

    int pod_mtu() const override {
        return config_.mtu != 0 ? config_.mtu : local_.underlay_mtu - 28;
    }

  private:
    std::shared_ptr<const Routes> routes() {
        std::lock_guard lock(routes_mutex_);
        return routes_;
    }

    // TUN -> UDP: up to `batch` packets read, then one sendmmsg.
    void from_tun(std::vector<std::vector<uint8_t>>& buffers) {
        auto table = routes();
        mmsghdr msgs[batch];
        iovec iovs[batch];
        sockaddr_in targets[batch];
        int n = 0;
        for (int i = 0; i < batch; ++i) {
            ssize_t got = ::read(tun_.get(), buffers[i].data(), max_packet);
            if (got <= 0) break;
            // virtio_net_hdr, then the IPv4 packet; a datagram holds at most 65507 bytes.
            if (got < vnet_header + 20 || got > 65507 || (buffers[i][vnet_header] >> 4) != 4 ||
                !table)
                continue;
            const sockaddr_in* node = table->find(&buffers[i][vnet_header + 16]);
            if (node == nullptr) continue;  // no node holds that subnet: dropped
            targets[n] = *node;
            iovs[n] = {buffers[i].data(), static_cast<size_t>(got)};
            msgs[n] = {};
            msgs[n].msg_hdr.msg_name = &targets[n];
            msgs[n].msg_hdr.msg_namelen = sizeof targets[n];
            msgs[n].msg_hdr.msg_iov = &iovs[n];
            msgs[n].msg_hdr.msg_iovlen = 1;
            ++n;
        }
        for (int sent = 0; sent < n;) {
            int r = ::sendmmsg(socket_.get(), msgs + sent, static_cast<unsigned>(n - sent), 0);
            if (r <= 0) break;  // a full socket buffer drops the rest, as a full link would
            sent += r;
        }
    }

    // UDP -> TUN: one recvmmsg, then a write per packet.
    void from_udp(std::vector<std::vector<uint8_t>>& buffers) {
        mmsghdr msgs[batch];
        iovec iovs[batch];
        for (int i = 0; i < batch; ++i) {
            iovs[i] = {buffers[i].data(), max_packet};
            msgs[i] = {};
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int n = ::recvmmsg(socket_.get(), msgs, batch, MSG_DONTWAIT, nullptr);
        for (int i = 0; i < n; ++i) (void)!::write(tun_.get(), buffers[i].data(), msgs[i].msg_len);
    }

    void forward() {
        UniqueFd ep(::epoll_create1(EPOLL_CLOEXEC));
        for (int fd : {tun_.get(), socket_.get(), stop_.get()}) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.fd = fd;
            ::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd, &ev);
        }
        std::vector<std::vector<uint8_t>> buffers(batch, std::vector<uint8_t>(max_packet));
        epoll_event events[3];
        for (;;) {
            int n = ::epoll_wait(ep.get(), events, 3, -1);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return;
            for (int i = 0; i < n; ++i) {
                int fd = events[i].data.fd;
                if (fd == stop_.get()) return;
                if (fd == tun_.get())
                    from_tun(buffers);
                else
                    from_udp(buffers);
            }
        }
    }

    OverlayConfig config_;
    LocalNode local_;
    NetlinkSocket& nl_;
    UniqueFd tun_, socket_, stop_;
    std::thread thread_;
    std::mutex routes_mutex_;
    std::shared_ptr<const Routes> routes_;
};

}  // namespace

std::unique_ptr<OverlayBackend> make_udp_backend(const OverlayConfig& config,
                                                 const LocalNode& local, NetlinkSocket& netlink) {
    return std::make_unique<Udp>(config, local, netlink);
}

}  // namespace podnet::overlay

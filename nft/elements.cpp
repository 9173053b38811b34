#include "nft/elements.hpp"

// glibc's <arpa/inet.h> before the kernel headers: the other order redefines struct in_addr.
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>

namespace podnet {

namespace {

constexpr size_t align4(size_t n) {
    return (n + 3) & ~size_t{3};
}

// Appends netlink messages and attributes to one buffer; lengths are patched when a message
// or a nest closes.
class BatchBuilder {
  public:
    size_t begin_message(uint16_t type, uint16_t flags, uint32_t seq, uint8_t family,
                         uint16_t res_id) {
        size_t at = buf_.size();
        nlmsghdr h{};
        h.nlmsg_type = type;
        h.nlmsg_flags = flags;
        h.nlmsg_seq = seq;
        append(&h, sizeof h);
        nfgenmsg g{};
        g.nfgen_family = family;
        g.version = NFNETLINK_V0;
        g.res_id = htons(res_id);
        append(&g, sizeof g);
        return at;
    }
    void end_message(size_t at) { patch_u32(at, static_cast<uint32_t>(buf_.size() - at)); }

    void attr(uint16_t type, const void* data, size_t len) {
        nlattr a{};
        a.nla_len = static_cast<uint16_t>(NLA_HDRLEN + len);
        a.nla_type = type;
        append(&a, sizeof a);
        append(data, len);
        pad();
    }
    void attr_string(uint16_t type, std::string_view s) {
        std::string z(s);  // with its NUL, as the kernel's NLA_STRING policy takes it
        attr(type, z.c_str(), z.size() + 1);
    }
    size_t begin_nest(uint16_t type) {
        size_t at = buf_.size();
        nlattr a{};
        a.nla_type = static_cast<uint16_t>(type | NLA_F_NESTED);
        append(&a, sizeof a);
        return at;
    }
    void end_nest(size_t at) {
        auto len = static_cast<uint16_t>(buf_.size() - at);
        std::memcpy(buf_.data() + at, &len, sizeof len);
    }

    std::vector<uint8_t> take() { return std::move(buf_); }

  private:
    void append(const void* data, size_t len) {
        const auto* p = static_cast<const uint8_t*>(data);
        buf_.insert(buf_.end(), p, p + len);
    }
    void pad() { buf_.resize(align4(buf_.size()), 0); }
    void patch_u32(size_t at, uint32_t v) { std::memcpy(buf_.data() + at, &v, sizeof v); }

    std::vector<uint8_t> buf_;
};

uint16_t nft_type(int msg) {
    return static_cast<uint16_t>((NFNL_SUBSYS_NFTABLES << 8) | msg);
}

void element_message(BatchBuilder& b, int msg, uint16_t flags, uint32_t seq, uint8_t family,
                     std::string_view table, const NftSetElement& e, bool with_value) {
    size_t m = b.begin_message(nft_type(msg), flags, seq, family, 0);
    b.attr_string(NFTA_SET_ELEM_LIST_TABLE, table);
    b.attr_string(NFTA_SET_ELEM_LIST_SET, e.set);
    size_t list = b.begin_nest(NFTA_SET_ELEM_LIST_ELEMENTS);
    size_t elem = b.begin_nest(NFTA_LIST_ELEM);
    size_t key = b.begin_nest(NFTA_SET_ELEM_KEY);
    b.attr(NFTA_DATA_VALUE, e.key.data(), e.key.size());
    b.end_nest(key);
    if (with_value && !e.data.empty()) {
        size_t data = b.begin_nest(NFTA_SET_ELEM_DATA);
        b.attr(NFTA_DATA_VALUE, e.data.data(), e.data.size());
        b.end_nest(data);
    }
    if (with_value && !e.comment.empty()) {
        // nft's user data for an element: TLVs of {u8 type, u8 length, value}; the comment is
        // type 0 (NFTNL_UDATA_SET_ELEM_COMMENT) with its NUL, as `nft list` reads it back.
        std::vector<uint8_t> udata = {0, static_cast<uint8_t>(e.comment.size() + 1)};
        udata.insert(udata.end(), e.comment.begin(), e.comment.end());
        udata.push_back(0);
        b.attr(NFTA_SET_ELEM_USERDATA, udata.data(), udata.size());
    }
    b.end_nest(elem);
    b.end_nest(list);
    b.end_message(m);
}

std::atomic<bool> deleted_anything{false};

}  // namespace

void note_nft_deletion() {
    deleted_anything = true;
}
bool nft_deleted_anything() {
    return deleted_anything;
}

void append_nft_field(std::vector<uint8_t>& out, std::span<const uint8_t> field) {
    out.insert(out.end(), field.begin(), field.end());
    out.resize(out.size() + (align4(field.size()) - field.size()), 0);
}

void append_nft_u8(std::vector<uint8_t>& out, uint8_t value) {
    append_nft_field(out, std::span<const uint8_t>(&value, 1));
}

void append_nft_port(std::vector<uint8_t>& out, uint16_t host_order) {
    uint8_t be[2] = {static_cast<uint8_t>(host_order >> 8), static_cast<uint8_t>(host_order)};
    append_nft_field(out, be);
}

std::vector<uint8_t> encode_nft_element_batch(uint8_t family, std::string_view table,
                                              std::span<const NftSetElement> elements,
                                              NftElementOp op, uint32_t first_seq) {
    BatchBuilder b;
    uint32_t seq = first_seq;
    size_t begin = b.begin_message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq++, AF_UNSPEC,
                                   NFNL_SUBSYS_NFTABLES);
    b.end_message(begin);
    const uint16_t ack = NLM_F_REQUEST | NLM_F_ACK;
    for (const auto& e : elements) {
        element_message(b, NFT_MSG_NEWSETELEM, ack | NLM_F_CREATE, seq++, family, table, e, true);
        if (op == NftElementOp::remove)
            element_message(b, NFT_MSG_DELSETELEM, ack, seq++, family, table, e, false);
    }
    size_t end =
        b.begin_message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq, AF_UNSPEC, NFNL_SUBSYS_NFTABLES);
    b.end_message(end);
    return b.take();
}

Result<NftElementWriter> NftElementWriter::open() {
    int fd = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (fd < 0) return fail_errno("open nftables netlink socket", errno);
    return NftElementWriter(UniqueFd(fd));
}

Result<NftElementWriter*> NftElementWriter::shared() {
    // Deliberately never destroyed (see the header): a static object's destructor would close
    // the socket at exit anyway, before the process can go.
    static std::unique_ptr<NftElementWriter> writer;
    if (!writer) {
        auto opened = open();
        if (!opened) return std::unexpected(opened.error());
        writer = std::make_unique<NftElementWriter>(std::move(*opened));
    }
    return writer.get();
}

Result<void> NftElementWriter::apply(uint8_t family, std::string_view table,
                                     std::span<const NftSetElement> elements, NftElementOp op) {
    if (elements.empty()) return {};
    if (op == NftElementOp::remove) note_nft_deletion();
    uint32_t first = seq_;
    auto batch = encode_nft_element_batch(family, table, elements, op, first);
    size_t messages = elements.size() * (op == NftElementOp::remove ? 2 : 1);
    seq_ += static_cast<uint32_t>(messages + 2);

    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd_.get(), batch.data(), batch.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) < 0)
        return fail_errno("nftables: send " + std::to_string(elements.size()) + " elements", errno);

    // Every message asked for an ack; the kernel answers each (error 0, or why) once the batch
    // has committed or been aborted. The first failure is the one to report.
    size_t acked = 0;
    int first_error = 0;
    uint32_t failed_seq = 0;
    std::vector<uint8_t> buf(16384);
    while (acked < messages) {
        ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail_errno("nftables: read acks", errno);
        size_t left = static_cast<size_t>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, left);
             h = NLMSG_NEXT(h, left)) {
            if (h->nlmsg_seq < first || h->nlmsg_seq > first + messages + 1) continue;
            if (h->nlmsg_type != NLMSG_ERROR) continue;
            const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
            ++acked;
            if (err->error != 0 && first_error == 0) {
                first_error = -err->error;
                failed_seq = h->nlmsg_seq;
            }
        }
        // An aborted batch may leave later messages unanswered: one error ends the wait.
        if (first_error != 0) break;
    }
    if (first_error == 0) return {};
    // seq first+1 is the first element's message; remove has two per element.
    size_t index = (failed_seq - first - 1) / (op == NftElementOp::remove ? 2 : 1);
    const auto& e = elements[std::min(index, elements.size() - 1)];
    return fail_errno("nftables: " + std::string(op == NftElementOp::add ? "add" : "remove") +
                          " element of " + std::string(table) + " " + e.set,
                      first_error);
}

}  // namespace podnet

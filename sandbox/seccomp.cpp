#include "sandbox/seccomp.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "common/unique_fd.hpp"

namespace podnet {

namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// libseccomp plumbing

class FilterContext {
  public:
    FilterContext() = default;
    explicit FilterContext(scmp_filter_ctx ctx) : ctx_(ctx) {}
    FilterContext(const FilterContext&) = delete;
    FilterContext& operator=(const FilterContext&) = delete;
    FilterContext(FilterContext&& other) noexcept : ctx_(std::exchange(other.ctx_, nullptr)) {}
    FilterContext& operator=(FilterContext&& other) noexcept {
        if (this != &other) {
            reset();
            ctx_ = std::exchange(other.ctx_, nullptr);
        }
        return *this;
    }
    ~FilterContext() { reset(); }

    [[nodiscard]] scmp_filter_ctx get() const { return ctx_; }
    // For seccomp_merge, which frees its source on success.
    void forget() { ctx_ = nullptr; }

  private:
    void reset() {
        if (ctx_ != nullptr) seccomp_release(ctx_);
        ctx_ = nullptr;
    }

    scmp_filter_ctx ctx_ = nullptr;
};

Result<FilterContext> new_filter(uint32_t default_action) {
    FilterContext ctx(seccomp_init(default_action));
    if (ctx.get() == nullptr) return fail("libseccomp could not create a filter");
    // Binary search over syscall numbers keeps long rule lists cheap on every syscall. Older
    // libseccomp lacks the attribute; the filter means the same without it.
    (void)seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_OPTIMIZE, 2);
    return ctx;
}

// libseccomp 2.5 can only export to a file descriptor; a memfd keeps it off the filesystem.
Result<SeccompProgram> export_program(scmp_filter_ctx ctx) {
    UniqueFd fd(::memfd_create("podnet-seccomp", MFD_CLOEXEC));
    if (!fd) return fail_errno("export seccomp filter: memfd_create", errno);
    if (int rc = seccomp_export_bpf(ctx, fd.get()); rc < 0) {
        return fail_errno("export seccomp filter", -rc);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return fail_errno("export seccomp filter: fstat", errno);
    auto bytes = static_cast<size_t>(st.st_size);
    if (bytes == 0 || bytes % sizeof(sock_filter) != 0) {
        return fail("export seccomp filter: libseccomp wrote " + std::to_string(bytes) +
                    " bytes, not whole BPF instructions");
    }
    size_t count = bytes / sizeof(sock_filter);
    if (count > BPF_MAXINSNS) {
        return fail("seccomp filter has " + std::to_string(count) +
                    " instructions; the kernel accepts at most " + std::to_string(BPF_MAXINSNS));
    }
    SeccompProgram program;
    program.instructions.resize(count);
    auto* out = reinterpret_cast<char*>(program.instructions.data());
    size_t done = 0;
    while (done < bytes) {
        ssize_t n = ::pread(fd.get(), out + done, bytes - done, static_cast<off_t>(done));
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno("read back seccomp filter", errno);
        }
        if (n == 0) return fail("read back seccomp filter: memfd shorter than its size");
        done += static_cast<size_t>(n);
    }
    return program;
}

// ---------------------------------------------------------------------------------------------
// Architectures

struct ArchName {
    std::string_view oci;     // runtime-spec and Docker profiles: "SCMP_ARCH_X86_64"
    std::string_view short_;  // libseccomp's name: "x86_64"
    std::string_view go;      // Docker's includes/excludes use Go's names: "amd64"
    uint32_t token;           // 0: this libseccomp cannot build filters for it
};

constexpr ArchName kArches[] = {
    {"SCMP_ARCH_X86", "x86", "x86", SCMP_ARCH_X86},
    {"SCMP_ARCH_X86_64", "x86_64", "amd64", SCMP_ARCH_X86_64},
    {"SCMP_ARCH_X32", "x32", "x32", SCMP_ARCH_X32},
    {"SCMP_ARCH_ARM", "arm", "arm", SCMP_ARCH_ARM},
    {"SCMP_ARCH_AARCH64", "aarch64", "arm64", SCMP_ARCH_AARCH64},
    {"SCMP_ARCH_MIPS", "mips", "mips", SCMP_ARCH_MIPS},
    {"SCMP_ARCH_MIPS64", "mips64", "mips64", SCMP_ARCH_MIPS64},
    {"SCMP_ARCH_MIPS64N32", "mips64n32", "mips64n32", SCMP_ARCH_MIPS64N32},
    {"SCMP_ARCH_MIPSEL", "mipsel", "mipsel", SCMP_ARCH_MIPSEL},
    {"SCMP_ARCH_MIPSEL64", "mipsel64", "mipsel64", SCMP_ARCH_MIPSEL64},
    {"SCMP_ARCH_MIPSEL64N32", "mipsel64n32", "mipsel64n32", SCMP_ARCH_MIPSEL64N32},
    {"SCMP_ARCH_PPC", "ppc", "ppc", SCMP_ARCH_PPC},
    {"SCMP_ARCH_PPC64", "ppc64", "ppc64", SCMP_ARCH_PPC64},
    {"SCMP_ARCH_PPC64LE", "ppc64le", "ppc64le", SCMP_ARCH_PPC64LE},
    {"SCMP_ARCH_S390", "s390", "s390", SCMP_ARCH_S390},
    {"SCMP_ARCH_S390X", "s390x", "s390x", SCMP_ARCH_S390X},
    {"SCMP_ARCH_PARISC", "parisc", "parisc", SCMP_ARCH_PARISC},
    {"SCMP_ARCH_PARISC64", "parisc64", "parisc64", SCMP_ARCH_PARISC64},
    {"SCMP_ARCH_RISCV64", "riscv64", "riscv64", SCMP_ARCH_RISCV64},
#ifdef SCMP_ARCH_LOONGARCH64
    {"SCMP_ARCH_LOONGARCH64", "loongarch64", "loong64", SCMP_ARCH_LOONGARCH64},
#else
    {"SCMP_ARCH_LOONGARCH64", "loongarch64", "loong64", 0},
#endif
#ifdef SCMP_ARCH_M68K
    {"SCMP_ARCH_M68K", "m68k", "m68k", SCMP_ARCH_M68K},
#else
    {"SCMP_ARCH_M68K", "m68k", "m68k", 0},
#endif
#ifdef SCMP_ARCH_SH
    {"SCMP_ARCH_SH", "sh", "sh", SCMP_ARCH_SH},
    {"SCMP_ARCH_SHEB", "sheb", "sheb", SCMP_ARCH_SHEB},
#else
    {"SCMP_ARCH_SH", "sh", "sh", 0},
    {"SCMP_ARCH_SHEB", "sheb", "sheb", 0},
#endif
};

const ArchName* find_arch(std::string_view name) {
    for (const auto& arch : kArches) {
        if (name == arch.oci || name == arch.short_ || name == arch.go) return &arch;
    }
    return nullptr;
}

std::string arch_label(uint32_t token) {
    for (const auto& arch : kArches) {
        if (arch.token == token && token != 0) return std::string(arch.oci);
    }
    return "architecture " + std::to_string(token);
}

// Docker pairs each 64-bit architecture with the ABIs the same kernel also accepts.
std::vector<uint32_t> docker_arches(uint32_t native) {
    switch (native) {
        case SCMP_ARCH_X86_64:
            return {native, SCMP_ARCH_X86, SCMP_ARCH_X32};
        case SCMP_ARCH_AARCH64:
            return {native, SCMP_ARCH_ARM};
        case SCMP_ARCH_MIPS64:
            return {native, SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64N32};
        case SCMP_ARCH_MIPS64N32:
            return {native, SCMP_ARCH_MIPS, SCMP_ARCH_MIPS64};
        case SCMP_ARCH_MIPSEL64:
            return {native, SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64N32};
        case SCMP_ARCH_MIPSEL64N32:
            return {native, SCMP_ARCH_MIPSEL, SCMP_ARCH_MIPSEL64};
        case SCMP_ARCH_S390X:
            return {native, SCMP_ARCH_S390};
        default:
            return {native};
    }
}

// ---------------------------------------------------------------------------------------------
// Docker's default profile as a denylist

constexpr CapabilitySet kSysAdmin = capability_bit(CAP_SYS_ADMIN);
constexpr CapabilitySet kSysPtrace = capability_bit(CAP_SYS_PTRACE);
constexpr CapabilitySet kSysModule = capability_bit(CAP_SYS_MODULE);
constexpr CapabilitySet kSysTime = capability_bit(CAP_SYS_TIME);
constexpr CapabilitySet kSysBoot = capability_bit(CAP_SYS_BOOT);
constexpr CapabilitySet kSysPacct = capability_bit(CAP_SYS_PACCT);
constexpr CapabilitySet kSysRawio = capability_bit(CAP_SYS_RAWIO);
constexpr CapabilitySet kSysNice = capability_bit(CAP_SYS_NICE);
constexpr CapabilitySet kSysChroot = capability_bit(CAP_SYS_CHROOT);
constexpr CapabilitySet kSysTtyConfig = capability_bit(CAP_SYS_TTY_CONFIG);
constexpr CapabilitySet kDacReadSearch = capability_bit(CAP_DAC_READ_SEARCH);
constexpr CapabilitySet kSyslog = capability_bit(CAP_SYSLOG);
constexpr CapabilitySet kBpf = capability_bit(CAP_BPF);
constexpr CapabilitySet kPerfmon = capability_bit(CAP_PERFMON);

struct DeniedSyscall {
    std::string_view name;
    CapabilitySet allowed_with;  // Docker allows it when the container holds any of these
};

// Every syscall libseccomp 2.5 knows on any architecture that Docker's profile does not allow
// unconditionally, minus the argument-dependent ones handled in add_default_rules.
constexpr DeniedSyscall kDenied[] = {
    // The kernel keyring is not namespaced.
    {"add_key", 0},
    {"keyctl", 0},
    {"request_key", 0},
    // Modules and replacing the kernel.
    {"init_module", kSysModule},
    {"finit_module", kSysModule},
    {"delete_module", kSysModule},
    {"create_module", 0},
    {"get_kernel_syms", 0},
    {"query_module", 0},
    {"kexec_load", 0},
    {"kexec_file_load", 0},
    // Host-wide state.
    {"reboot", kSysBoot},
    {"acct", kSysPacct},
    {"swapon", 0},
    {"swapoff", 0},
    {"settimeofday", kSysTime},
    {"stime", kSysTime},
    {"clock_settime", kSysTime},
    {"clock_settime64", kSysTime},
    {"syslog", kSysAdmin | kSyslog},
    {"vhangup", kSysTtyConfig},
    {"iopl", kSysRawio},
    {"ioperm", kSysRawio},
    {"quotactl", kSysAdmin},
    {"quotactl_fd", kSysAdmin},
    {"lookup_dcookie", kSysAdmin},
    {"nfsservctl", 0},
    {"_sysctl", 0},
    {"sysfs", 0},
    {"ustat", 0},
    {"uselib", 0},
    {"bdflush", 0},
    // Mounts, namespaces and file handles.
    {"mount", kSysAdmin},
    {"umount", kSysAdmin},
    {"umount2", kSysAdmin},
    {"mount_setattr", kSysAdmin},
    {"move_mount", kSysAdmin},
    {"open_tree", kSysAdmin},
    {"open_tree_attr", 0},
    {"fsopen", kSysAdmin},
    {"fsconfig", kSysAdmin},
    {"fsmount", kSysAdmin},
    {"fspick", kSysAdmin},
    {"pivot_root", 0},
    {"chroot", kSysChroot},
    {"unshare", kSysAdmin},
    {"setns", kSysAdmin},
    {"sethostname", kSysAdmin},
    {"setdomainname", kSysAdmin},
    {"fanotify_init", kSysAdmin},
    {"open_by_handle_at", kDacReadSearch},
    {"lsm_get_self_attr", kSysAdmin},
    {"lsm_set_self_attr", kSysAdmin},
    {"lsm_list_modules", kSysAdmin},
    // Kernel attack surface and other processes.
    {"bpf", kSysAdmin | kBpf},
    {"perf_event_open", kSysAdmin | kPerfmon},
    {"userfaultfd", 0},
    {"io_uring_setup", 0},
    {"io_uring_enter", 0},
    {"io_uring_register", 0},
    {"kcmp", kSysPtrace},
    {"pidfd_getfd", kSysPtrace},
    {"process_madvise", kSysPtrace},
    // NUMA placement.
    {"get_mempolicy", kSysNice},
    {"set_mempolicy", kSysNice},
    {"set_mempolicy_home_node", kSysNice},
    {"mbind", kSysNice},
    {"move_pages", 0},
    {"migrate_pages", 0},
    // Obsolete, unimplemented or architecture-private entry points.
    {"afs_syscall", 0},
    {"break", 0},
    {"ftime", 0},
    {"getpmsg", 0},
    {"putpmsg", 0},
    {"gtty", 0},
    {"stty", 0},
    {"idle", 0},
    {"lock", 0},
    {"mpx", 0},
    {"prof", 0},
    {"profil", 0},
    {"security", 0},
    {"tuxcall", 0},
    {"vserver", 0},
    {"ulimit", 0},
    {"nice", 0},
    {"oldfstat", 0},
    {"oldlstat", 0},
    {"oldolduname", 0},
    {"oldstat", 0},
    {"olduname", 0},
    {"readdir", 0},
    {"sgetmask", 0},
    {"ssetmask", 0},
    {"signal", 0},
    {"sigaction", 0},
    {"sigpending", 0},
    {"sigsuspend", 0},
    {"timerfd", 0},
    {"vm86", 0},
    {"vm86old", 0},
    {"cachectl", 0},
    {"sysmips", 0},
    {"syscall", 0},
    {"get_tls", 0},
    {"usr26", 0},
    {"usr32", 0},
    {"pciconfig_iobase", 0},
    {"pciconfig_read", 0},
    {"pciconfig_write", 0},
    {"multiplexer", 0},
    {"rtas", 0},
    {"spu_create", 0},
    {"spu_run", 0},
    {"subpage_prot", 0},
    {"switch_endian", 0},
    {"sys_debug_setcontext", 0},
    {"s390_guarded_storage", 0},
    {"s390_sthyi", 0},
};

// Docker allows these on Linux >= 4.8 (before 4.8 a tracer could rewrite a syscall after
// seccomp had checked it). podnet denies them without CAP_SYS_PTRACE on every kernel, as its
// sandbox issue asks: one container of a pod must not trace or read the memory of another.
constexpr std::string_view kPtraceSyscalls[] = {"ptrace", "process_vm_readv", "process_vm_writev"};

constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWUTS, CLONE_NEWIPC,   CLONE_NEWUSER,
                                        CLONE_NEWPID, CLONE_NEWNET, CLONE_NEWCGROUP};

// Docker's socket() allowlist leaves out the families the kernel removed, AF_ALG (kernel crypto
// API) and AF_VSOCK (reaches the host's VMs), and everything after AF_MCTP.
constexpr uint64_t kDeniedSocketFamilies[] = {AF_DECnet, AF_ECONET, AF_ATMSVC, AF_IRDA, AF_WANPIPE,
                                              AF_ISDN,   AF_CAIF,   AF_ALG,    AF_VSOCK};
constexpr uint64_t kLastAllowedSocketFamily = AF_MCTP;

scmp_arg_cmp arg_cmp(unsigned arg, scmp_compare op, uint64_t a, uint64_t b = 0) {
    return scmp_arg_cmp{.arg = arg, .op = op, .datum_a = a, .datum_b = b};
}

// Names libseccomp does not know are skipped: an older library cannot filter newer syscalls.
Result<void> add_rule(scmp_filter_ctx ctx, uint32_t action, std::string_view name,
                      std::initializer_list<scmp_arg_cmp> conditions = {}) {
    std::string syscall_name(name);
    int nr = seccomp_syscall_resolve_name(syscall_name.c_str());
    if (nr == __NR_SCMP_ERROR) return {};
    int rc = seccomp_rule_add_array(ctx, action, nr, static_cast<unsigned>(conditions.size()),
                                    std::data(conditions));
    if (rc < 0) return fail_errno("add seccomp rule for " + syscall_name, -rc);
    return {};
}

Result<void> add_default_rules(scmp_filter_ctx ctx, uint32_t arch, CapabilitySet caps) {
    const uint32_t eperm = SCMP_ACT_ERRNO(EPERM);
    for (const auto& denied : kDenied) {
        if ((caps & denied.allowed_with) != 0) continue;
        if (auto r = add_rule(ctx, eperm, denied.name); !r) return r;
    }
    if ((caps & kSysPtrace) == 0) {
        for (auto name : kPtraceSyscalls) {
            if (auto r = add_rule(ctx, eperm, name); !r) return r;
        }
    }

    if ((caps & kSysAdmin) == 0) {
        // s390 passes clone's flags second.
        unsigned flags_arg = (arch == SCMP_ARCH_S390 || arch == SCMP_ARCH_S390X) ? 1 : 0;
        for (uint64_t flag : kNamespaceFlags) {
            auto r =
                add_rule(ctx, eperm, "clone", {arg_cmp(flags_arg, SCMP_CMP_MASKED_EQ, flag, flag)});
            if (!r) return r;
        }
        // ENOSYS makes libc fall back to clone, whose flags the filter can see; clone3 passes
        // them in memory.
        if (auto r = add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3"); !r) return r;
    }

    // Where socket() is multiplexed through socketcall() (x86, s390, ...) the family sits in
    // memory the filter cannot read and libseccomp would deny every socketcall socket, so the
    // family rules only go where socket() stands alone. Docker's profile leaves socketcall open
    // too.
    if (seccomp_syscall_resolve_name_arch(arch, "socket") >= 0) {
        for (uint64_t family : kDeniedSocketFamilies) {
            auto r = add_rule(ctx, eperm, "socket", {arg_cmp(0, SCMP_CMP_EQ, family)});
            if (!r) return r;
        }
        auto r =
            add_rule(ctx, eperm, "socket", {arg_cmp(0, SCMP_CMP_GT, kLastAllowedSocketFamily)});
        if (!r) return r;
    }

    // Docker allows personality() only with 0 (PER_LINUX), 8 (PER_LINUX32), 0x20000 (UNAME26),
    // 0x20008 and 0xffffffff (query). A rule cannot compare one argument twice, so the rest is
    // covered by single masked comparisons: anything above 32 bits; an odd value with a clear
    // bit (bits 0..k-1 set, bit k clear); an even value with a bit other than 3 and 17.
    if (auto r = add_rule(ctx, eperm, "personality", {arg_cmp(0, SCMP_CMP_GT, 0xffffffffULL)});
        !r) {
        return r;
    }
    for (unsigned k = 1; k < 32; ++k) {
        uint64_t low_run = (uint64_t{1} << k) - 1;
        uint64_t mask = (uint64_t{1} << (k + 1)) - 1;
        auto r =
            add_rule(ctx, eperm, "personality", {arg_cmp(0, SCMP_CMP_MASKED_EQ, mask, low_run)});
        if (!r) return r;
    }
    for (unsigned k = 1; k < 32; ++k) {
        if (k == 3 || k == 17) continue;
        uint64_t bit = uint64_t{1} << k;
        auto r =
            add_rule(ctx, eperm, "personality", {arg_cmp(0, SCMP_CMP_MASKED_EQ, bit | 1, bit)});
        if (!r) return r;
    }
    return {};
}

// ---------------------------------------------------------------------------------------------
// OCI / Docker profile JSON

// Docker writes absent fields as null ("args": null), so both mean "not given".
const json* member(const json& object, const char* key) {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) return nullptr;
    return &*it;
}

std::string indexed(std::string_view key, size_t index) {
    return std::string(key) + "[" + std::to_string(index) + "]";
}

struct SyscallFilter {  // Docker's includes/excludes
    CapabilitySet caps = 0;
    bool has_caps = false;
    bool has_arches = false;
    bool lists_native = false;
};

class ProfileCompiler {
  public:
    ProfileCompiler(CapabilitySet caps, std::string_view source)
        : caps_(caps), source_(source), native_(seccomp_arch_native()) {}

    Result<SeccompProgram> compile(const std::string& text) {
        json root;
        try {
            root = json::parse(text);
        } catch (const json::parse_error& e) {
            return fail(prefix() + "invalid JSON: " + without_exception_id(e.what()));
        }
        if (!root.is_object()) return error("top level", "expected an object");

        auto default_action = parse_action(root, "defaultAction", "defaultErrnoRet", "");
        if (!default_action) return std::unexpected(default_action.error());
        default_action_ = *default_action;

        auto ctx = new_filter(default_action_);
        if (!ctx) return error("defaultAction", ctx.error().message);
        if (auto r = add_architectures(ctx->get(), root); !r) return std::unexpected(r.error());

        if (const json* syscalls = member(root, "syscalls")) {
            if (!syscalls->is_array()) return error("syscalls", "expected an array");
            for (size_t i = 0; i < syscalls->size(); ++i) {
                auto r = add_syscall_rules(ctx->get(), (*syscalls)[i], indexed("syscalls", i));
                if (!r) return std::unexpected(r.error());
            }
        }

        auto program = export_program(ctx->get());
        if (!program) return std::unexpected(program.error().wrap("seccomp profile " + source_));
        return program;
    }

  private:
    [[nodiscard]] std::string prefix() const { return "seccomp profile " + source_ + ": "; }

    [[nodiscard]] std::unexpected<Error> error(std::string_view key, std::string_view why) const {
        return fail(prefix() + std::string(key) + ": " + std::string(why));
    }

    static std::string without_exception_id(std::string_view what) {
        // "[json.exception.parse_error.101] parse error at ..." -> "parse error at ..."
        if (!what.empty() && what.front() == '[') {
            auto end = what.find("] ");
            if (end != std::string_view::npos) what.remove_prefix(end + 2);
        }
        return std::string(what);
    }

    Result<std::string_view> string_at(const json& value, std::string_view key) const {
        if (!value.is_string()) return error(key, "expected a string");
        return std::string_view(value.get_ref<const std::string&>());
    }

    Result<uint64_t> unsigned_at(const json& value, std::string_view key) const {
        if (value.is_number_unsigned()) return value.get<uint64_t>();
        if (value.is_number_integer()) return error(key, "must not be negative");
        return error(key, "expected a non-negative integer");
    }

    Result<uint32_t> parse_action(const json& object, const char* action_key, const char* errno_key,
                                  const std::string& path) const {
        const std::string action_path = path.empty() ? action_key : path + "." + action_key;
        const std::string errno_path = path.empty() ? errno_key : path + "." + errno_key;
        const json* action = member(object, action_key);
        if (action == nullptr) return error(action_path, "missing");
        auto name = string_at(*action, action_path);
        if (!name) return std::unexpected(name.error());

        // As in runc, errnoRet sets the errno of ERRNO and the message of TRACE (EPERM if
        // absent) and is ignored by other actions.
        uint32_t data = EPERM;
        if (const json* ret = member(object, errno_key)) {
            auto value = unsigned_at(*ret, errno_path);
            if (!value) return std::unexpected(value.error());
            if (*value > 0xffff) return error(errno_path, "must be at most 65535");
            data = static_cast<uint32_t>(*value);
        }

        if (*name == "SCMP_ACT_ALLOW") return SCMP_ACT_ALLOW;
        if (*name == "SCMP_ACT_ERRNO") return SCMP_ACT_ERRNO(data);
        if (*name == "SCMP_ACT_KILL" || *name == "SCMP_ACT_KILL_THREAD") {
            return SCMP_ACT_KILL_THREAD;
        }
        if (*name == "SCMP_ACT_KILL_PROCESS") return SCMP_ACT_KILL_PROCESS;
        if (*name == "SCMP_ACT_TRAP") return SCMP_ACT_TRAP;
        if (*name == "SCMP_ACT_TRACE") return SCMP_ACT_TRACE(data);
        if (*name == "SCMP_ACT_LOG") return SCMP_ACT_LOG;
        if (*name == "SCMP_ACT_NOTIFY") {
            return error(action_path, "SCMP_ACT_NOTIFY needs a seccomp agent, which podnet lacks");
        }
        return error(action_path, "unknown action \"" + std::string(*name) + "\"");
    }

    Result<const ArchName*> arch_at(const json& value, std::string_view key) const {
        auto name = string_at(value, key);
        if (!name) return std::unexpected(name.error());
        const ArchName* arch = find_arch(*name);
        if (arch == nullptr)
            return error(key, "unknown architecture \"" + std::string(*name) + "\"");
        return arch;
    }

    Result<void> add_arch(scmp_filter_ctx ctx, const json& value, std::string_view key) const {
        auto arch = arch_at(value, key);
        if (!arch) return std::unexpected(arch.error());
        if ((*arch)->token == 0) {
            return error(key, std::string((*arch)->oci) + " is not supported by this libseccomp");
        }
        int rc = seccomp_arch_add(ctx, (*arch)->token);
        if (rc < 0 && rc != -EEXIST) return error(key, std::strerror(-rc));
        return {};
    }

    Result<void> add_architectures(scmp_filter_ctx ctx, const json& root) const {
        const json* arches = member(root, "architectures");
        const json* arch_map = member(root, "archMap");
        auto non_empty = [](const json* v) { return v != nullptr && !v->empty(); };
        if (non_empty(arches) && non_empty(arch_map)) {
            return error("archMap", "use either architectures or archMap, not both");
        }
        if (arches != nullptr) {
            if (!arches->is_array()) return error("architectures", "expected an array");
            for (size_t i = 0; i < arches->size(); ++i) {
                auto r = add_arch(ctx, (*arches)[i], indexed("architectures", i));
                if (!r) return r;
            }
        }
        if (arch_map != nullptr) {
            // Docker: only the entry for the native architecture counts, and brings its
            // sub-architectures along.
            if (!arch_map->is_array()) return error("archMap", "expected an array");
            for (size_t i = 0; i < arch_map->size(); ++i) {
                const json& entry = (*arch_map)[i];
                const std::string path = indexed("archMap", i);
                if (!entry.is_object()) return error(path, "expected an object");
                const json* main = member(entry, "architecture");
                if (main == nullptr) return error(path + ".architecture", "missing");
                auto arch = arch_at(*main, path + ".architecture");
                if (!arch) return std::unexpected(arch.error());
                if ((*arch)->token != native_) continue;
                const json* subs = member(entry, "subArchitectures");
                if (subs == nullptr) continue;
                if (!subs->is_array())
                    return error(path + ".subArchitectures", "expected an array");
                for (size_t j = 0; j < subs->size(); ++j) {
                    auto r = add_arch(ctx, (*subs)[j], indexed(path + ".subArchitectures", j));
                    if (!r) return r;
                }
            }
        }
        return {};
    }

    Result<SyscallFilter> parse_filter(const json* value, const std::string& path) const {
        SyscallFilter filter;
        if (value == nullptr) return filter;
        if (!value->is_object()) return error(path, "expected an object");
        if (const json* caps = member(*value, "caps")) {
            if (!caps->is_array()) return error(path + ".caps", "expected an array");
            for (size_t i = 0; i < caps->size(); ++i) {
                const std::string key = indexed(path + ".caps", i);
                auto name = string_at((*caps)[i], key);
                if (!name) return std::unexpected(name.error());
                auto cap = capability_from_name(*name);
                if (!cap) return error(key, cap.error().message);
                filter.caps |= capability_bit(*cap);
                filter.has_caps = true;
            }
        }
        if (const json* arches = member(*value, "arches")) {
            if (!arches->is_array()) return error(path + ".arches", "expected an array");
            for (size_t i = 0; i < arches->size(); ++i) {
                auto arch = arch_at((*arches)[i], indexed(path + ".arches", i));
                if (!arch) return std::unexpected(arch.error());
                filter.has_arches = true;
                if ((*arch)->token == native_ && native_ != 0) filter.lists_native = true;
            }
        }
        return filter;
    }

    // Docker: excluded if the native arch is listed or any listed capability is held; included
    // only if the native arch is listed (when any are) and every listed capability is held.
    [[nodiscard]] bool applies(const SyscallFilter& includes, const SyscallFilter& excludes) const {
        if (excludes.has_arches && excludes.lists_native) return false;
        if (excludes.has_caps && (caps_ & excludes.caps) != 0) return false;
        if (includes.has_arches && !includes.lists_native) return false;
        if (includes.has_caps && (caps_ & includes.caps) != includes.caps) return false;
        return true;
    }

    Result<std::vector<scmp_arg_cmp>> parse_args(const json* args, const std::string& path) const {
        std::vector<scmp_arg_cmp> conditions;
        if (args == nullptr) return conditions;
        if (!args->is_array()) return error(path, "expected an array");
        for (size_t i = 0; i < args->size(); ++i) {
            const json& arg = (*args)[i];
            const std::string at = indexed(path, i);
            if (!arg.is_object()) return error(at, "expected an object");

            const json* index = member(arg, "index");
            if (index == nullptr) return error(at + ".index", "missing");
            auto index_value = unsigned_at(*index, at + ".index");
            if (!index_value) return std::unexpected(index_value.error());
            if (*index_value > 5) return error(at + ".index", "must be 0 to 5");

            uint64_t value = 0;
            uint64_t value_two = 0;
            if (const json* v = member(arg, "value")) {
                auto parsed = unsigned_at(*v, at + ".value");
                if (!parsed) return std::unexpected(parsed.error());
                value = *parsed;
            }
            if (const json* v = member(arg, "valueTwo")) {
                auto parsed = unsigned_at(*v, at + ".valueTwo");
                if (!parsed) return std::unexpected(parsed.error());
                value_two = *parsed;
            }

            const json* op = member(arg, "op");
            if (op == nullptr) return error(at + ".op", "missing");
            auto op_name = string_at(*op, at + ".op");
            if (!op_name) return std::unexpected(op_name.error());
            auto compare = parse_operator(*op_name);
            if (!compare) {
                return error(at + ".op", "unknown operator \"" + std::string(*op_name) + "\"");
            }
            // For SCMP_CMP_MASKED_EQ, value is the mask and valueTwo what the masked argument
            // must equal; the other operators ignore valueTwo.
            conditions.push_back(
                arg_cmp(static_cast<unsigned>(*index_value), *compare, value, value_two));
        }
        return conditions;
    }

    static std::optional<scmp_compare> parse_operator(std::string_view name) {
        if (name == "SCMP_CMP_NE") return SCMP_CMP_NE;
        if (name == "SCMP_CMP_LT") return SCMP_CMP_LT;
        if (name == "SCMP_CMP_LE") return SCMP_CMP_LE;
        if (name == "SCMP_CMP_EQ") return SCMP_CMP_EQ;
        if (name == "SCMP_CMP_GE") return SCMP_CMP_GE;
        if (name == "SCMP_CMP_GT") return SCMP_CMP_GT;
        if (name == "SCMP_CMP_MASKED_EQ") return SCMP_CMP_MASKED_EQ;
        return std::nullopt;
    }

    Result<std::vector<std::string>> parse_names(const json& entry, const std::string& path) const {
        const json* name = member(entry, "name");
        const json* names = member(entry, "names");
        std::vector<std::string> out;
        if (name != nullptr && names != nullptr) {
            return error(path, "use either name or names, not both");
        }
        if (name != nullptr) {
            auto value = string_at(*name, path + ".name");
            if (!value) return std::unexpected(value.error());
            out.emplace_back(*value);
        } else if (names != nullptr) {
            if (!names->is_array()) return error(path + ".names", "expected an array");
            for (size_t i = 0; i < names->size(); ++i) {
                auto value = string_at((*names)[i], indexed(path + ".names", i));
                if (!value) return std::unexpected(value.error());
                out.emplace_back(*value);
            }
        }
        if (out.empty()) return error(path + ".names", "missing or empty");
        return out;
    }

    Result<void> add_syscall_rules(scmp_filter_ctx ctx, const json& entry,
                                   const std::string& path) const {
        if (!entry.is_object()) return error(path, "expected an object");
        auto names = parse_names(entry, path);
        if (!names) return std::unexpected(names.error());
        auto action = parse_action(entry, "action", "errnoRet", path);
        if (!action) return std::unexpected(action.error());
        auto conditions = parse_args(member(entry, "args"), path + ".args");
        if (!conditions) return std::unexpected(conditions.error());
        auto includes = parse_filter(member(entry, "includes"), path + ".includes");
        if (!includes) return std::unexpected(includes.error());
        auto excludes = parse_filter(member(entry, "excludes"), path + ".excludes");
        if (!excludes) return std::unexpected(excludes.error());

        if (!applies(*includes, *excludes)) return {};
        // libseccomp rejects rules that repeat the default action; they change nothing.
        if (*action == default_action_) return {};

        // libseccomp cannot compare one argument twice in a rule; like runc, such conditions
        // become one rule each, so any of them matching triggers the action.
        bool repeated_index = false;
        for (size_t i = 0; i < conditions->size() && !repeated_index; ++i) {
            for (size_t j = i + 1; j < conditions->size(); ++j) {
                if ((*conditions)[i].arg == (*conditions)[j].arg) repeated_index = true;
            }
        }

        for (const auto& name : *names) {
            int nr = seccomp_syscall_resolve_name(name.c_str());
            if (nr == __NR_SCMP_ERROR) continue;
            auto add = [&](unsigned count, const scmp_arg_cmp* cmps) -> Result<void> {
                int rc = seccomp_rule_add_array(ctx, *action, nr, count, cmps);
                if (rc < 0) return error(path, "add rule for " + name + ": " + std::strerror(-rc));
                return {};
            };
            if (repeated_index) {
                for (const auto& cmp : *conditions) {
                    if (auto r = add(1, &cmp); !r) return r;
                }
            } else {
                auto r = add(static_cast<unsigned>(conditions->size()), conditions->data());
                if (!r) return r;
            }
        }
        return {};
    }

    CapabilitySet caps_;
    std::string source_;
    uint32_t native_;
    uint32_t default_action_ = SCMP_ACT_ALLOW;
};

}  // namespace

Result<SeccompProgram> compile_default_seccomp(CapabilitySet caps) {
    const std::string_view context = "default seccomp profile";
    const uint32_t native = seccomp_arch_native();

    // One filter per architecture, merged: rules must not be translated across ABIs (socket()
    // on x86 is socketcall), and seccomp_merge keeps each architecture's own rules.
    FilterContext merged;
    for (uint32_t arch : docker_arches(native)) {
        auto ctx = new_filter(SCMP_ACT_ALLOW);
        if (!ctx) return wrap(ctx.error(), context);
        if (arch != native) {
            int rc = seccomp_arch_remove(ctx->get(), SCMP_ARCH_NATIVE);
            if (rc == 0) rc = seccomp_arch_add(ctx->get(), arch);
            if (rc < 0) {
                return fail_errno(std::string(context) + ": add " + arch_label(arch), -rc);
            }
        }
        if (auto r = add_default_rules(ctx->get(), arch, caps); !r) {
            return wrap(r.error(), std::string(context) + ": " + arch_label(arch));
        }
        if (merged.get() == nullptr) {
            merged = std::move(*ctx);
            continue;
        }
        if (int rc = seccomp_merge(merged.get(), ctx->get()); rc < 0) {
            return fail_errno(std::string(context) + ": merge " + arch_label(arch), -rc);
        }
        ctx->forget();
    }

    auto program = export_program(merged.get());
    if (!program) return wrap(program.error(), context);
    return program;
}

Result<SeccompProgram> compile_seccomp_profile(const std::string& json_text, CapabilitySet caps,
                                               std::string_view source) {
    try {
        return ProfileCompiler(caps, source).compile(json_text);
    } catch (const json::exception& e) {
        // The compiler checks types before reading values; this is a backstop.
        return fail("seccomp profile " + std::string(source) + ": " + e.what());
    }
}

Result<SeccompProgram> load_seccomp_profile_file(const std::string& path, CapabilitySet caps) {
    const std::string context = "seccomp profile " + path;
    // Profiles are a few tens of KiB; the cap keeps a mistaken path (a device) from eating memory.
    constexpr size_t kMaxProfileBytes = 16 << 20;
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return fail_errno(context, errno);
    std::string text;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return fail_errno(context, errno);
        }
        if (n == 0) break;
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > kMaxProfileBytes) return fail(context + ": larger than 16 MiB");
    }
    return compile_seccomp_profile(text, caps, path);
}

int install_seccomp_program(const SeccompProgram& program) {
    if (program.instructions.empty()) return 0;
    if (program.instructions.size() > BPF_MAXINSNS) return -EINVAL;
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(program.instructions.size());
    prog.filter = const_cast<sock_filter*>(program.instructions.data());
    if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0U, &prog) == 0) return 0;
    if (errno != ENOSYS) return -errno;
    // Kernels before 3.17 only have the prctl interface.
    if (::syscall(SYS_prctl, PR_SET_SECCOMP, static_cast<unsigned long>(SECCOMP_MODE_FILTER), &prog,
                  0UL, 0UL) == 0) {
        return 0;
    }
    return -errno;
}

}  // namespace podnet

#include "common/process.hpp"

#include <sys/random.h>
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "common/fs.hpp"

namespace podnet {

std::optional<ProcStat> read_proc_stat(pid_t pid) {
    auto text = read_file("/proc/" + std::to_string(pid) + "/stat");
    if (!text) return std::nullopt;
    // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
    auto close = text->rfind(')');
    if (close == std::string::npos || close + 2 >= text->size()) return std::nullopt;
    const char* p = text->c_str() + close + 2;
    ProcStat st;
    st.state = *p;
    // Fields 3 (state) .. 22 (starttime): skip to field 4 for ppid, then to 22.
    int field = 3;
    const char* cursor = p;
    while (field < 22 && *cursor != '\0') {
        if (*cursor == ' ') {
            ++field;
            if (field == 4) st.parent = static_cast<pid_t>(std::strtol(cursor + 1, nullptr, 10));
            if (field == 22) st.start_time = std::strtoull(cursor + 1, nullptr, 10);
        }
        ++cursor;
    }
    return st;
}

bool process_running(pid_t pid, uint64_t start_time) {
    if (pid <= 0) return false;
    auto st = read_proc_stat(pid);
    if (!st || st->state == 'Z' || st->state == 'X') return false;
    return start_time == 0 || st->start_time == start_time;
}

std::optional<std::vector<std::string>> read_proc_cmdline(pid_t pid) {
    auto text = read_file("/proc/" + std::to_string(pid) + "/cmdline");
    if (!text) return std::nullopt;
    std::vector<std::string> args;
    size_t start = 0;
    while (start < text->size()) {
        size_t end = text->find('\0', start);
        if (end == std::string::npos) end = text->size();
        args.push_back(text->substr(start, end - start));
        start = end + 1;
    }
    return args;
}

std::string random_hex(size_t bytes) {
    std::vector<unsigned char> buf(bytes);
    size_t done = 0;
    while (done < bytes) {
        ssize_t n = ::getrandom(buf.data() + done, bytes - done, 0);
        if (n > 0) done += static_cast<size_t>(n);
        // EINTR: retry; getrandom does not fail otherwise once the pool is initialised.
    }
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes * 2);
    for (unsigned char b : buf) {
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 15]);
    }
    return out;
}

std::string now_rfc3339() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    tm utc{};
    ::gmtime_r(&ts.tv_sec, &utc);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ts.tv_nsec);
    return buf;
}

}  // namespace podnet

// awf's own record of its runs, the only thing `awf logs` trusts to find log
// directories on its own. The sandboxed command can write to a shared /tmp
// and so forge a `squid-logs-<ms>` directory there; it cannot write to the
// state directory, which belongs to the user awf ran as (root for sudo awf)
// and is not writable by anyone else.
//
// Layout: <state>/runs/<id> holds `log_dir=<path>` and `pid=<awf's pid>`
// lines. <state> is $AWF_STATE_DIR, else /var/lib/awf for root, else
// $XDG_STATE_HOME/awf (default ~/.local/state/awf).
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

#include "awf/result.h"

namespace awf::logs {

struct RunRecord {
  std::string id;       // the run's timestamp (epoch ms), also the file name
  std::string log_dir;  // where its access.log is (the live directory, then the preserved one)
  long pid = 0;         // awf's pid while it runs
  uid_t owner = 0;      // who wrote the record (and so owns the log directory)
};

// Where this process writes its records.
std::string own_state_dir(const std::map<std::string, std::string>& env);

// Where `awf logs` reads records: $AWF_STATE_DIR alone when set; else root's
// /var/lib/awf and, when not root, the user's own state directory.
std::vector<std::string> trusted_state_dirs(const std::map<std::string, std::string>& env);

// Writes (or replaces) the record atomically, creating <state>/runs (0755)
// as needed; keeps the newest 200 records.
Status write_run_record(const std::string& state_dir, const RunRecord& record);

// Every record under the trusted directories whose file and directory are
// owned by the reader or by root and writable by nobody else. `skipped`
// receives one line per record or directory refused, with the reason.
std::vector<RunRecord> read_run_records(const std::vector<std::string>& state_dirs, std::vector<std::string>* skipped);

// A log directory is believed only when it is a real directory (not a link)
// owned by `owner`, not writable by group or others, and its access.log is a
// regular file with the same owner. Returns the reason when not.
Status check_log_dir(const std::string& dir, uid_t owner);

}  // namespace awf::logs

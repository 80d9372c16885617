#ifndef CALOFTSPAWN_H
#define CALOFTSPAWN_H

#include <sys/types.h>

// Starts `path` with `argv` and `envp` (NULL-terminated) through posix_spawn, for a container:
// - standard input from /dev/null, standard output and error onto `stdout_fd` and `stderr_fd` (-1: /dev/null);
// - no other descriptor of the parent (closefrom 3 in the child, where glibc has it; every descriptor the
//   control plane makes itself is close-on-exec as well);
// - in a process group of its own (so that a kill can take the group);
// - every signal at its default disposition and none blocked, whatever the parent ignores or blocks (a server
//   ignores SIGPIPE; signal handling libraries ignore SIGTERM and SIGINT to receive them another way).
// Returns 0 and sets `*pid`, or an errno value. Unlike Foundation's Process.run, it copies no list of the parent's
// descriptors, so it works whatever their number (Process.run crashed in memcpy with ~1,500 open).
int aloft_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd);

// As aloft_spawn, but the child first joins each cgroup by writing "0" (itself) to the files `cgroup_procs`
// lists (NULL-terminated: a v1 hierarchy's `tasks`, which moves the one thread a forked child has, or `cgroup.procs`), so that it and everything it starts are counted and limited from their first instruction.
// Uses fork and execve (posix_spawn cannot join a cgroup): between the two the child only makes system calls.
// Returns 0 and sets `*pid`, or the errno value of the step that failed (in the child: joining, or execve).
int aloft_spawn_in_cgroups(pid_t *pid, const char *path, char *const argv[], char *const envp[], int stdout_fd,
                           int stderr_fd, const char *const cgroup_procs[]);

#endif

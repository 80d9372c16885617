#define _GNU_SOURCE
#include "CAloftSpawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int aloft_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int result = posix_spawn_file_actions_init(&actions);
    if (result != 0) return result;
    result = posix_spawnattr_init(&attributes);
    if (result != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return result;
    }
    result = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (result == 0) {
        result = stdout_fd >= 0 ? posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1)
                                : posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    }
    if (result == 0) {
        result = stderr_fd >= 0 ? posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2)
                                : posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
    }
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    if (result == 0) result = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
#endif
    sigset_t defaults, mask;
    sigemptyset(&defaults);
    for (int signal = 1; signal < NSIG; signal++) {
        if (signal != SIGKILL && signal != SIGSTOP) sigaddset(&defaults, signal);
    }
    sigemptyset(&mask);
    if (result == 0) result = posix_spawnattr_setsigdefault(&attributes, &defaults);
    if (result == 0) result = posix_spawnattr_setsigmask(&attributes, &mask);
    if (result == 0) result = posix_spawnattr_setpgroup(&attributes, 0);
    if (result == 0) {
        result = posix_spawnattr_setflags(
            &attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    }
    if (result == 0) result = posix_spawn(pid, path, &actions, &attributes, argv, envp);
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return result;
}

// The child of aloft_spawn_in_cgroups: only system calls from here to execve. Failures are written as an errno
// value to `report`, which is close-on-exec: the parent reads 0 bytes when execve succeeded.
static void child_in_cgroups(const char *path, char *const argv[], char *const envp[], int stdout_fd, int stderr_fd,
                             const char *const cgroup_procs[], int report) {
    int error = 0;
    for (int signal = 1; signal < NSIG; signal++) {
        if (signal != SIGKILL && signal != SIGSTOP) (void)sigaction(signal, &(struct sigaction){.sa_handler = SIG_DFL}, NULL);
    }
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
    (void)setpgid(0, 0);
    for (int index = 0; cgroup_procs[index] != NULL && error == 0; index++) {
        int file = open(cgroup_procs[index], O_WRONLY | O_CLOEXEC);
        if (file < 0 || write(file, "0", 1) != 1) error = errno;  // "0": the writing process itself
        if (file >= 0) close(file);
    }
    int null_in = error == 0 ? open("/dev/null", O_RDONLY) : -1;
    if (error == 0 && (null_in < 0 || dup2(null_in, 0) < 0)) error = errno;
    int null_out = error == 0 && (stdout_fd < 0 || stderr_fd < 0) ? open("/dev/null", O_WRONLY) : -1;
    if (error == 0 && dup2(stdout_fd >= 0 ? stdout_fd : null_out, 1) < 0) error = errno;
    if (error == 0 && dup2(stderr_fd >= 0 ? stderr_fd : null_out, 2) < 0) error = errno;
    if (error == 0) {
        // Keep only 0-2 and the report pipe (moved to 3, close-on-exec).
        if (report != 3) {
            if (dup3(report, 3, O_CLOEXEC) < 0) error = errno;
            report = 3;
        }
        if (error == 0) (void)syscall(SYS_close_range, 4U, ~0U, 0U);
    }
    if (error == 0) {
        execve(path, argv, envp);
        error = errno;
    }
    (void)write(report, &error, sizeof error);
    _exit(127);
}

int aloft_spawn_in_cgroups(pid_t *pid, const char *path, char *const argv[], char *const envp[], int stdout_fd,
                           int stderr_fd, const char *const cgroup_procs[]) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return errno;
    // No handler of this process may run in the child between fork and execve.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t child = fork();
    if (child == 0) child_in_cgroups(path, argv, envp, stdout_fd, stderr_fd, cgroup_procs, report[1]);
    int fork_error = child < 0 ? errno : 0;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    close(report[1]);
    if (fork_error != 0) {
        close(report[0]);
        return fork_error;
    }
    int error = 0;
    ssize_t count;
    do {
        count = read(report[0], &error, sizeof error);
    } while (count < 0 && errno == EINTR);
    close(report[0]);
    if (count == (ssize_t)sizeof error && error != 0) {
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR) {}
        return error;
    }
    *pid = child;
    return 0;
}

#ifndef C_ALOFT_STDIO_H
#define C_ALOFT_STDIO_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/// A stdio stream whose writes go to `write(cookie, bytes, count)` (glibc's fopencookie, which Swift's Glibc module
/// does not show), with the given buffering (_IOLBF, _IONBF); NULL where the C library has no fopencookie.
FILE *aloft_open_write_stream(void *cookie, ssize_t (*write)(void *cookie, const char *bytes, size_t count),
                              int buffering);

/// Makes `file` the process's stdout (which = 1) or stderr (which = 2).
void aloft_set_standard_stream(int which, FILE *file);

#endif

#define _GNU_SOURCE
#include "CAloftStdio.h"

FILE *aloft_open_write_stream(void *cookie, ssize_t (*write)(void *cookie, const char *bytes, size_t count),
                              int buffering) {
#if defined(__GLIBC__)
    cookie_io_functions_t functions = {.read = NULL, .write = write, .seek = NULL, .close = NULL};
    FILE *file = fopencookie(cookie, "w", functions);
    if (file != NULL) setvbuf(file, NULL, buffering, 0);
    return file;
#else
    (void)cookie;
    (void)write;
    (void)buffering;
    return NULL;
#endif
}

void aloft_set_standard_stream(int which, FILE *file) {
    if (which == 1) stdout = file;
    else if (which == 2) stderr = file;
}

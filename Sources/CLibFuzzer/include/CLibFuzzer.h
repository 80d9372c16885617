#ifndef CLIBFUZZER_H
#define CLIBFUZZER_H

#include <stddef.h>
#include <stdint.h>

// libFuzzer's driver, for a program that has a `main` of its own (SwiftPM gives every executable one): runs the
// fuzzing loop with libFuzzer's command-line flags, calling `callback` with each input. Defined by libFuzzer's
// runtime, which `-sanitize=fuzzer` links (scripts/fuzz); only the fuzzing build of AloftFuzz calls it.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif

// SwiftPM builds a C target from at least one source file; the declaration in include/CLibFuzzer.h is all there is.
#include "CLibFuzzer.h"

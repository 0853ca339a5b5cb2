#include "mhtest.h"

#include "dlibface.h"

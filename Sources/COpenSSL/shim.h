// OpenSSL's libcrypto (Debian: libssl-dev), for SHA-256 only: its EVP digest uses the CPU's SHA
// extensions (SHA-NI) or AVX2 code, about 7x faster than portable code.
#include <openssl/evp.h>

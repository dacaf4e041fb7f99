/*
 * A stand-in for Windows's bcryptprimitives.dll, for checking the programs under Wine 8 only
 * (packaging/check-windows.sh; never shipped). Rust's standard library takes its random numbers
 * from ProcessPrng in that DLL, which every Windows from 10 on has and Wine 8.0 (Debian 12's)
 * lacks; this one answers from BCryptGenRandom, which Wine has.
 */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}

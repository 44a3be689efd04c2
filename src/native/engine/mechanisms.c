/* The engine's mechanisms, in the order of the paper's Table 1 (--list prints them so). */
#include <string.h>

#include "engine.h"

extern const struct mechanism mech_tcp, mech_tcp_nodelay, mech_unix, mech_pipe, mech_mempipe_futex_safe,
    mech_mempipe_futex_unsafe, mech_mempipe_spin_safe, mech_mempipe_spin_unsafe, mech_vmsplice_coop,
    mech_shmem_pipe_safe, mech_shmem_pipe_unsafe, mech_cacheline, mech_futex_wake;

const struct mechanism *const mechanisms[] = {
    &mech_tcp,
    &mech_tcp_nodelay,
    &mech_unix,
    &mech_pipe,
    &mech_mempipe_futex_safe,
    &mech_mempipe_futex_unsafe,
    &mech_mempipe_spin_safe,
    &mech_mempipe_spin_unsafe,
    &mech_vmsplice_coop,
    &mech_shmem_pipe_safe,
    &mech_shmem_pipe_unsafe,
    &mech_cacheline,
    &mech_futex_wake,
};

const size_t mechanism_count = sizeof mechanisms / sizeof mechanisms[0];

const struct mechanism *mechanism_find(const char *name) {
  for (size_t i = 0; i < mechanism_count; i++)
    if (strcmp(mechanisms[i]->name, name) == 0) return mechanisms[i];
  return NULL;
}

/* A jansson allocator that wipes every block it frees: control messages
 * carry keys (`keys`) and the daemon's and the CLI's copies of them must
 * not outlive their use. Shared by kotetsud and kotetsu. */
#ifndef KD_JWIPE_H
#define KD_JWIPE_H

/* Install it (before any other jansson call). */
void kd_json_wipe_init(void);

#endif

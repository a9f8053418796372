/* The control socket's requests, one JSON object each:
 *   {"cmd":"status"}                              -> {"ok":true, "peers":..., "drops":...}
 *   {"cmd":"up", "peer":"P", "child":"C"|null}    -> {"ok":true} once queued
 *   {"cmd":"down", "peer":"P", "child":"C"|null}  -> {"ok":true} once queued
 *   {"cmd":"reload"}                              -> {"ok":true} or
 *                {"ok":false, "error":"...", "errors":["FILE:LINE: ...", ...]}
 *   {"cmd":"keys"}                                -> {"ok":true, "ike":[...], "sas":[...]}
 * Failures are {"ok":false, "error":"one-line reason"}. */
#ifndef KD_CMD_H
#define KD_CMD_H

#include <jansson.h>

#include "daemon/kotetsud.h"

/* Answer one request (never NULL unless out of memory). */
json_t *kd_cmd(struct kd *kd, const json_t *req);

#endif

/* Control requests: check the arguments, call the daemon, answer. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "daemon/cmd.h"
#include "daemon/log.h"
#include "daemon/status.h"

#define ERR_LEN 320

static json_t *fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static json_t *fail(const char *fmt, ...)
{
	char msg[ERR_LEN];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s}", "ok", 0, "error", msg);
}

static json_t *ok(json_t *doc)
{
	if (!doc)
		return fail("out of memory");
	json_object_set_new(doc, "ok", json_true());
	return doc;
}

/* "peer" must be a string, "child" a string or null/absent. */
static int names(const json_t *req, const char **peer, const char **child)
{
	const json_t *p = json_object_get(req, "peer"), *c = json_object_get(req, "child");
	if (!json_is_string(p) || (c && !json_is_null(c) && !json_is_string(c)))
		return -1;
	*peer = json_string_value(p);
	*child = json_is_string(c) ? json_string_value(c) : NULL;
	return 0;
}

static json_t *cmd_up(struct kd *kd, const json_t *req)
{
	const char *peer, *child;
	if (names(req, &peer, &child) < 0)
		return fail("up needs \"peer\" (a string) and optionally \"child\"");
	if (kd->stopping)
		return fail("kotetsud is shutting down");
	char err[ERR_LEN];
	if (kd_ike_initiate(kd, peer, child, err, sizeof(err)) < 0)
		return fail("%s", err);
	kd_info("peer %s: initiating %s%s(kotetsu up)", peer, child ? child : "", child ? " " : "");
	return ok(json_object());
}

static json_t *cmd_down(struct kd *kd, const json_t *req)
{
	const char *peer, *child;
	if (names(req, &peer, &child) < 0)
		return fail("down needs \"peer\" (a string) and optionally \"child\"");
	/* A peer a reload removed may still have an SA: ask the engine first. */
	int rc = kt_ike_terminate(kd->ike, kd_now(), peer, child);
	if (rc == KT_ERR_NOT_FOUND && !kt_conf_peer(kd->conf, peer))
		return fail("no peer %s in %s", peer, kd->conf_path);
	if (rc == KT_ERR_NOT_FOUND)
		return fail("%s%s%s is not up", peer, child ? "/" : "", child ? child : "");
	if (rc < 0)
		return fail("%s: cannot delete: %s", peer, kt_strerror(rc));
	kd_info("peer %s: deleting %s%s(kotetsu down)", peer, child ? child : "", child ? " " : "");
	return ok(json_object());
}

static json_t *cmd_reload(struct kd *kd)
{
	struct kt_conf_diag *diag = calloc(1, sizeof(*diag));
	if (!diag)
		return fail("out of memory");
	json_t *resp;
	if (kd_reload(kd, diag) == 0) {
		resp = ok(json_object());
	} else {
		json_t *errors = json_array();
		for (size_t i = 0; i < diag->n_errors && i < KT_CONF_DIAG_MAX; i++)
			json_array_append_new(errors, json_string(diag->errors[i]));
		resp = fail("%s has %zu error%s; the running configuration is kept",
			    kd->conf_path, diag->n_errors, diag->n_errors == 1 ? "" : "s");
		json_object_set_new(resp, "errors", errors);
	}
	json_t *warnings = json_array();
	for (size_t i = 0; i < diag->n_warnings && i < KT_CONF_DIAG_MAX; i++)
		json_array_append_new(warnings, json_string(diag->warnings[i]));
	json_object_set_new(resp, "warnings", warnings);
	free(diag);
	return resp;
}

json_t *kd_cmd(struct kd *kd, const json_t *req)
{
	const char *cmd = json_string_value(json_object_get(req, "cmd"));
	if (!cmd)
		return fail("a request is a JSON object with a \"cmd\" string");
	if (strcmp(cmd, "status") == 0)
		return ok(kd_status_json(kd));
	if (strcmp(cmd, "up") == 0)
		return cmd_up(kd, req);
	if (strcmp(cmd, "down") == 0)
		return cmd_down(kd, req);
	if (strcmp(cmd, "reload") == 0)
		return cmd_reload(kd);
	if (strcmp(cmd, "keys") == 0)
		return ok(kd_keys_json(kd));
	return fail("unknown command \"%.32s\" (status, up, down, reload, keys)", cmd);
}

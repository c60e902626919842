/*
 * A plugin that misbehaves on purpose, one way per build flag, for the host's
 * tests: -DABI_MAJOR_USED=2 (another ABI), -DNO_ENTRY (no entry point),
 * -DPLUGIN_ID=\"...\" (its id), and at run time the node's `mode` parameter:
 * "pass" (hands its input back without copying), "bad_shape" (an audio output
 * of the wrong rank), "ignore_cancel" (loops, never checking cancellation).
 */
#include <string.h>
#include <unistd.h>

#include "gspeech_plugin.h"

#ifndef ABI_MAJOR_USED
#define ABI_MAJOR_USED GSP_ABI_MAJOR
#endif
#ifndef PLUGIN_ID
#define PLUGIN_ID "org.gspeech.tests.faulty"
#endif

static const char NODES[] =
    "[{\"type_id\":\"" PLUGIN_ID ".probe\",\"version\":1,\"category\":\"test\",\"title\":\"Probe\",\"doc\":\"Misbehaves.\","
    "\"inputs\":[{\"name\":\"audio\",\"type\":\"audio\",\"doc\":\"In.\"}],"
    "\"outputs\":[{\"name\":\"audio\",\"type\":\"audio\",\"doc\":\"Out.\"}],"
    "\"params\":[{\"name\":\"mode\",\"kind\":{\"type\":\"enum\",\"choices\":[\"pass\",\"bad_shape\",\"ignore_cancel\"]},"
    "\"default\":\"pass\",\"doc\":\"How to misbehave.\"}],\"caching\":\"never\"}]";

static void *create(const char *type_id) { static int instance; (void)type_id; return &instance; }
static void destroy(void *instance) { (void)instance; }

static int32_t run(void *instance, const gsp_host *host) {
    (void)instance;
    const gsp_value *audio = &host->inputs[0];
    if (strstr(host->params_json, "\"ignore_cancel\"")) {
        for (;;) sleep(1);
    }
    if (host->set_output(host->ctx, "audio", audio->json) != 0) return GSP_ERROR;
    if (strstr(host->params_json, "\"bad_shape\"")) {
        uint64_t shape[1] = {4};
        return host->alloc_tensor(host->ctx, "audio", "samples", GSP_F32, 1, shape) ? GSP_OK : GSP_ERROR;
    }
    for (uint64_t i = 0; i < audio->n_tensors; i++)
        if (host->share_tensor(host->ctx, "audio", &audio->tensors[i]) != 0) return GSP_ERROR;
    return GSP_OK;
}

static const gsp_plugin PLUGIN = {ABI_MAJOR_USED, GSP_ABI_MINOR, PLUGIN_ID, "0.1.0", NODES, create, run, destroy};

#ifndef NO_ENTRY
GSP_EXPORT const gsp_plugin *gspeech_plugin_entry(void) { return &PLUGIN; }
#else
GSP_EXPORT const gsp_plugin *some_other_function(void) { return &PLUGIN; }
#endif

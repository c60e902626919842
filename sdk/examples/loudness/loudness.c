/*
 * An example plugin written in C against gspeech_plugin.h alone:
 * `org.gspeech.examples.loudness.normalize` measures the integrated loudness
 * of audio (ITU-R BS.1770-4: K-weighting, 400 ms blocks with 75 % overlap, an
 * absolute gate at -70 LUFS and a relative gate 10 LU below) and applies the
 * gain that brings it to a target, within a true-sample-free peak ceiling.
 * Every channel is weighted 1 (mono, stereo); surround weights are not applied.
 *
 * Build: cc -shared -fPIC -O2 -I sdk/include sdk/examples/loudness/loudness.c \
 *           -o libgspeech_loudness.so -lm
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gspeech_plugin.h"

static const char NODES[] =
    "[{\"type_id\":\"org.gspeech.examples.loudness.normalize\",\"version\":1,\"category\":\"audio\","
    "\"title\":\"Normalize Loudness\","
    "\"doc\":\"Measures integrated loudness (ITU-R BS.1770-4, gated) and applies the gain that reaches "
    "the target, lowered if needed so no sample exceeds the peak ceiling.\","
    "\"inputs\":[{\"name\":\"audio\",\"type\":\"audio\",\"doc\":\"The audio to normalise.\"}],"
    "\"outputs\":[{\"name\":\"audio\",\"type\":\"audio\",\"doc\":\"The normalised audio.\"},"
    "{\"name\":\"loudness\",\"type\":\"float\",\"doc\":\"The measured loudness before the gain, in LUFS.\"}],"
    "\"params\":[{\"name\":\"target_lufs\",\"kind\":{\"type\":\"float\",\"min\":-70.0,\"max\":0.0},"
    "\"default\":-23.0,\"doc\":\"Target integrated loudness (EBU R128: -23).\"},"
    "{\"name\":\"peak_ceiling_db\",\"kind\":{\"type\":\"float\",\"min\":-30.0,\"max\":0.0},"
    "\"default\":-1.0,\"doc\":\"No sample may exceed this level after the gain, in dBFS.\"}],"
    "\"caching\":\"memory\"}]";

/* The number after "key": in a flat JSON object written by the host. */
static int json_number(const char *json, const char *key, double *out) {
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *at = strstr(json, pattern);
    if (!at) return 0;
    char *end;
    *out = strtod(at + strlen(pattern), &end);
    return end != at + strlen(pattern);
}

typedef struct { double b0, b1, b2, a1, a2, z1, z2; } biquad;

static double biquad_step(biquad *f, double x) {
    double y = f->b0 * x + f->z1;
    f->z1 = f->b1 * x - f->a1 * y + f->z2;
    f->z2 = f->b2 * x - f->a2 * y;
    return y;
}

/* The two K-weighting stages of BS.1770 for any sample rate. */
static void k_weighting(double rate, biquad *shelf, biquad *highpass) {
    double k = tan(M_PI * 1681.974450955533 / rate), q = 0.7071752369554196;
    double vh = pow(10.0, 3.999843853973347 / 20.0), vb = pow(vh, 0.4996667741545416);
    double a0 = 1.0 + k / q + k * k;
    *shelf = (biquad){(vh + vb * k / q + k * k) / a0, 2.0 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0,
                      2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0, 0, 0};
    k = tan(M_PI * 38.13547087602444 / rate);
    q = 0.5003270373238773;
    a0 = 1.0 + k / q + k * k;
    *highpass = (biquad){1.0, -2.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0, 0, 0};
}

/* Integrated loudness in LUFS of `channels` x `frames` samples, or -INFINITY when silent. */
static double integrated_loudness(const gsp_host *host, const float *samples, size_t channels, size_t frames,
                                  double rate, int *cancelled) {
    double *weighted = malloc(sizeof(double) * frames * channels);
    if (!weighted) return NAN;
    for (size_t c = 0; c < channels; c++) {
        biquad shelf, highpass;
        k_weighting(rate, &shelf, &highpass);
        for (size_t i = 0; i < frames; i++) {
            double y = biquad_step(&highpass, biquad_step(&shelf, samples[c * frames + i]));
            weighted[c * frames + i] = y * y;
        }
        if (host->is_cancelled(host->ctx)) { *cancelled = 1; free(weighted); return NAN; }
    }
    size_t block = (size_t)(0.4 * rate), step = (size_t)(0.1 * rate);
    if (block > frames) block = frames;
    if (step == 0) step = 1;
    size_t blocks = frames >= block ? (frames - block) / step + 1 : 1;
    double *power = malloc(sizeof(double) * blocks);
    if (!power) { free(weighted); return NAN; }
    for (size_t b = 0; b < blocks; b++) {
        double sum = 0.0;
        for (size_t c = 0; c < channels; c++)
            for (size_t i = b * step; i < b * step + block; i++) sum += weighted[c * frames + i];
        power[b] = sum / (double)block;
    }
    free(weighted);
    double threshold = pow(10.0, (-70.0 + 0.691) / 10.0), total = 0.0;
    size_t kept = 0;
    for (size_t b = 0; b < blocks; b++)
        if (power[b] > threshold) { total += power[b]; kept++; }
    if (kept == 0) { free(power); return -INFINITY; }
    double relative = total / (double)kept * pow(10.0, -10.0 / 10.0);
    total = 0.0;
    kept = 0;
    for (size_t b = 0; b < blocks; b++)
        if (power[b] > threshold && power[b] > relative) { total += power[b]; kept++; }
    free(power);
    return -0.691 + 10.0 * log10(total / (double)kept);
}

static int32_t fail(const gsp_host *host, const char *message) {
    host->set_error(host->ctx, message);
    return GSP_ERROR;
}

static void *create(const char *type_id) {
    static int instance;
    return strcmp(type_id, "org.gspeech.examples.loudness.normalize") == 0 ? &instance : NULL;
}

static void destroy(void *instance) { (void)instance; }

static int32_t run(void *instance, const gsp_host *host) {
    (void)instance;
    const gsp_value *audio = NULL;
    for (uint64_t i = 0; i < host->n_inputs; i++)
        if (strcmp(host->inputs[i].socket, "audio") == 0) audio = &host->inputs[i];
    if (!audio) return fail(host, "input `audio` is missing");
    const gsp_tensor *samples = NULL;
    for (uint64_t i = 0; i < audio->n_tensors; i++)
        if (strcmp(audio->tensors[i].name, "samples") == 0) samples = &audio->tensors[i];
    double rate, target, ceiling;
    if (!samples || samples->dtype != GSP_F32 || samples->ndim != 2) return fail(host, "audio needs f32 samples [channels, frames]");
    if (!json_number(audio->json, "sample_rate", &rate) || rate <= 0) return fail(host, "audio has no sample_rate");
    if (!json_number(host->params_json, "target_lufs", &target) ||
        !json_number(host->params_json, "peak_ceiling_db", &ceiling))
        return fail(host, "parameters are missing");

    size_t channels = (size_t)samples->shape[0], frames = (size_t)samples->shape[1];
    const float *in = samples->data;
    if (frames == 0) return fail(host, "the audio is empty");
    host->progress(host->ctx, 0.0f, "measuring loudness");
    int cancelled = 0;
    double loudness = integrated_loudness(host, in, channels, frames, rate, &cancelled);
    if (cancelled) return GSP_CANCELLED;
    if (isnan(loudness)) return fail(host, "out of memory");
    if (isinf(loudness)) return fail(host, "the audio is silent (below -70 LUFS): its loudness is undefined");

    double peak = 0.0;
    for (size_t i = 0; i < channels * frames; i++) peak = fmax(peak, fabs(in[i]));
    double gain_db = target - loudness, limit_db = ceiling - 20.0 * log10(peak);
    char line[160];
    if (gain_db > limit_db) {
        snprintf(line, sizeof line, "gain limited from %+.2f dB to %+.2f dB by the %.1f dBFS peak ceiling", gain_db,
                 limit_db, ceiling);
        host->log(host->ctx, GSP_LOG_WARN, line);
        gain_db = limit_db;
    }
    snprintf(line, sizeof line, "measured %.2f LUFS, applied %+.2f dB", loudness, gain_db);
    host->log(host->ctx, GSP_LOG_INFO, line);

    char attrs[64], value[64];
    snprintf(attrs, sizeof attrs, "{\"sample_rate\":%.0f}", rate);
    snprintf(value, sizeof value, "%.17g", loudness);
    if (host->set_output(host->ctx, "audio", attrs) != 0 || host->set_output(host->ctx, "loudness", value) != 0)
        return GSP_ERROR;
    float *out = host->alloc_tensor(host->ctx, "audio", "samples", GSP_F32, 2, samples->shape);
    if (!out) return GSP_ERROR;
    float gain = (float)pow(10.0, gain_db / 20.0);
    for (size_t i = 0; i < channels * frames; i++) out[i] = in[i] * gain;
    host->progress(host->ctx, 1.0f, "done");
    return GSP_OK;
}

static const gsp_plugin PLUGIN = {
    GSP_ABI_MAJOR, GSP_ABI_MINOR, "org.gspeech.examples.loudness", "1.0.0", NODES, create, run, destroy,
};

GSP_EXPORT const gsp_plugin *gspeech_plugin_entry(void) { return &PLUGIN; }

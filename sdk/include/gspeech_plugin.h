/*
 * gspeech_plugin.h: the C ABI of GaussianSpeech Studio plugins, version 1.0.
 *
 * A plugin is a shared library exporting one function, `gspeech_plugin_entry`,
 * that returns a static descriptor: the ABI version it was built for, a
 * reverse-domain plugin id, the plugin's own version, its node specs as JSON,
 * and a function table (create, run, destroy).
 *
 * Nothing of any language's runtime crosses this boundary: strings are
 * NUL-terminated UTF-8, values are plain structs of pointers and integers, and
 * memory is never freed by the side that did not allocate it. Inputs are lent
 * for the duration of `run`; outputs are written into memory the host
 * allocates (`alloc_tensor`) or handed over with a release function
 * (`share_tensor`), so large tensors are never copied.
 *
 * Threading: `run` may be called from several threads at once, on the same
 * instance. The host's callbacks may be called from any thread during `run`.
 *
 * Versioning: the host loads plugins of its own ABI major version whose minor
 * version is not newer than its own. Minor versions only add fields at the end
 * of `gsp_host` and `gsp_plugin`.
 */
#ifndef GSPEECH_PLUGIN_H
#define GSPEECH_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GSP_ABI_MAJOR 1
#define GSP_ABI_MINOR 0

/* The one symbol a plugin exports. */
#define GSP_ENTRY_SYMBOL "gspeech_plugin_entry"

#if defined(_WIN32)
#define GSP_EXPORT __declspec(dllexport)
#else
#define GSP_EXPORT __attribute__((visibility("default")))
#endif

/* Element types of tensors. */
enum gsp_dtype {
    GSP_U8 = 0,
    GSP_U32 = 1,
    GSP_I32 = 2,
    GSP_I64 = 3,
    GSP_F32 = 4,
    GSP_F64 = 5
};

/* Log levels. */
enum gsp_log_level { GSP_LOG_DEBUG = 0, GSP_LOG_INFO = 1, GSP_LOG_WARN = 2 };

/* What `run` returns. */
enum gsp_status {
    GSP_OK = 0,        /* every declared output was set */
    GSP_ERROR = 1,     /* failed; the message was given with `set_error` */
    GSP_CANCELLED = 2  /* stopped because `is_cancelled` said so */
};

/* A dense, row-major tensor. */
typedef struct gsp_tensor {
    const char *name;         /* tensor name within its value, e.g. "samples" */
    uint32_t dtype;           /* enum gsp_dtype */
    uint32_t ndim;            /* number of dimensions */
    const uint64_t *shape;    /* ndim sizes, outermost first */
    const void *data;         /* native-endian elements, aligned for dtype */
    uint64_t byte_len;        /* product(shape) * element size */
    void *owner;              /* opaque handle keeping `data` alive */
    void (*release)(void *owner); /* drops `owner`; NULL when nothing is to be released */
} gsp_tensor;

/* A value arriving on an input socket, lent for the duration of `run`. */
typedef struct gsp_value {
    const char *socket;       /* the input socket's name */
    const char *kind;         /* port type name: "audio", "motion", "float", "text", ... */
    const char *json;         /* scalars: the value as JSON; data: the attributes, a JSON object */
    uint64_t n_tensors;       /* data values: the tensors; 0 for scalars */
    const gsp_tensor *tensors;
} gsp_value;

/* What the host gives `run`: inputs, parameters, and callbacks that take `ctx`. */
typedef struct gsp_host {
    void *ctx;
    const char *node_id;      /* the graph node being run */
    const char *type_id;      /* its type */
    const char *params_json;  /* every parameter, resolved and checked: a JSON object */
    const char *temp_root;    /* the run's scratch folder, shared by its nodes: make a
                                 subfolder named after `node_id` if you need one */
    uint64_t n_inputs;
    const gsp_value *inputs;

    /* Progress in [0, 1] with a short message (may be NULL). */
    void (*progress)(void *ctx, float fraction, const char *message);
    /* A log line at an enum gsp_log_level. */
    void (*log)(void *ctx, uint32_t level, const char *message);
    /* Non-zero once the run is cancelled: return GSP_CANCELLED soon after. */
    int32_t (*is_cancelled)(void *ctx);
    /* The error message reported when `run` returns GSP_ERROR. */
    void (*set_error)(void *ctx, const char *message);

    /* Declares an output. Scalars: `json` is the value ("0.5", "\"text\"").
       Data values: `json` is the attributes object; add tensors with the two
       functions below. Returns 0, or -1 with an error set. */
    int32_t (*set_output)(void *ctx, const char *socket, const char *json);
    /* A zeroed tensor of a declared data output, owned by the host; the
       plugin fills it during `run`. Returns NULL with an error set on bad
       arguments. */
    void *(*alloc_tensor)(void *ctx, const char *socket, const char *name, uint32_t dtype, uint32_t ndim,
                          const uint64_t *shape);
    /* Adds a tensor without copying it. Either an input tensor passed on, given
       as received (the host keeps its own reference; the input's owner stays
       the plugin's to release if it retained it), or the plugin's own memory
       with an `owner` and a `release` function: the host takes that owner,
       whether or not the call succeeds, and calls `release` once it no longer
       needs the data. Returns 0, or -1 with an error set. */
    int32_t (*share_tensor)(void *ctx, const char *socket, const gsp_tensor *tensor);
    /* Keeps an input tensor's data alive after `run` returns: returns a new
       owner to release with the tensor's `release` later. */
    void *(*retain)(void *owner);
} gsp_host;

/* The descriptor a plugin returns. It must stay valid while the plugin is loaded. */
typedef struct gsp_plugin {
    uint32_t abi_major;       /* GSP_ABI_MAJOR when built */
    uint32_t abi_minor;       /* GSP_ABI_MINOR when built */
    const char *id;           /* reverse-domain id, e.g. "com.example.loudness" */
    const char *version;      /* the plugin's version, semver, e.g. "1.2.0" */
    /* JSON array of node specs, as `gspeech nodes --json` prints them. Each
       type id starts with the plugin id, e.g. "com.example.loudness.normalize". */
    const char *nodes_json;
    /* An instance serving every node of one type; NULL if it cannot be made. */
    void *(*create)(const char *type_id);
    /* Computes one node's outputs: returns an enum gsp_status. */
    int32_t (*run)(void *instance, const gsp_host *host);
    /* Frees an instance (the host never unloads a plugin, but may drop instances). */
    void (*destroy)(void *instance);
} gsp_plugin;

/* The type of `gspeech_plugin_entry`. */
typedef const gsp_plugin *(*gsp_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* GSPEECH_PLUGIN_H */

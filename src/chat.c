/* chat.c - finds a model's chat template (GGUF metadata, chat_template.jinja,
 * tokenizer_config.json) or a named built-in, and renders conversations with
 * the Jinja interpreter (jinja.c) as transformers' apply_chat_template does.
 *
 * The built-ins are Jinja strings rendered by the same interpreter, so there is
 * one rendering mechanism whatever the template's origin. */
#include "chat.h"
#include "gguf.h"
#include "model.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

struct chat_template {
    jinja_template *jt;
    char *source;
    char *origin;
};

/* ---------------------------------------------------------------- built-ins */

const char *const chat_builtin_names[] = {"chatml", "llama3", "mistral", "none", NULL};

/* chatml: the ChatML markup (OpenHermes / Qwen without a default system prompt). */
static const char BUILTIN_CHATML[] =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}"
    "{% endif %}";

/* llama3: Meta-Llama-3-Instruct's markup. */
static const char BUILTIN_LLAMA3[] =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

/* mistral: Mistral-Instruct v0.3's markup without tools (the system message
 * goes into the last user turn). */
static const char BUILTIN_MISTRAL[] =
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content'] %}\n"
    "    {%- set loop_messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set loop_messages = messages %}\n"
    "{%- endif %}\n"
    "{{- bos_token }}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
    "        {{- raise_exception('After the optional system message, conversation roles must alternate "
    "user/assistant/user/assistant/...') }}\n"
    "    {%- endif %}\n"
    "    {%- if message['role'] == 'user' %}\n"
    "        {%- if loop.last and system_message is defined %}\n"
    "            {{- '[INST] ' + system_message + '\\n\\n' + message['content'] + '[/INST]' }}\n"
    "        {%- else %}\n"
    "            {{- '[INST] ' + message['content'] + '[/INST]' }}\n"
    "        {%- endif %}\n"
    "    {%- elif message['role'] == 'assistant' %}\n"
    "        {{- ' ' + message['content'] + eos_token }}\n"
    "    {%- else %}\n"
    "        {{- raise_exception('Only user and assistant roles are supported, with the exception of an "
    "initial optional system message!') }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n";

/* none: the contents concatenated, no markup. */
static const char BUILTIN_NONE[] = "{% for message in messages %}{{ message['content'] }}{% endfor %}";

const char *chat_builtin_source(const char *name) {
    if (!name) return NULL;
    if (!strcmp(name, "chatml")) return BUILTIN_CHATML;
    if (!strcmp(name, "llama3")) return BUILTIN_LLAMA3;
    if (!strcmp(name, "mistral")) return BUILTIN_MISTRAL;
    if (!strcmp(name, "none")) return BUILTIN_NONE;
    return NULL;
}

/* ---------------------------------------------------------------- construction */

chat_template *chat_template_from_string(const char *src, const char *origin) {
    if (!origin) origin = "string";
    size_t n = strlen(origin) + 32;
    char *name = xmalloc(n);
    snprintf(name, n, "chat template (%s)", origin);
    jinja_template *jt = jinja_parse(src, name, NULL);
    free(name);
    if (!jt) return NULL;
    chat_template *t = xcalloc(1, sizeof *t);
    t->jt = jt;
    t->source = xstrdup(src);
    t->origin = xstrdup(origin);
    return t;
}

void chat_template_free(chat_template *t) {
    if (!t) return;
    jinja_free(t->jt);
    free(t->source);
    free(t->origin);
    free(t);
}

const char *chat_template_source(const chat_template *t) { return t->source; }
const char *chat_template_origin(const chat_template *t) { return t->origin; }

static chat_template *from_override(const char *override) {
    const char *src = chat_builtin_source(override);
    if (src) {
        char origin[64];
        snprintf(origin, sizeof origin, "built-in %s", override);
        return chat_template_from_string(src, origin);
    }
    if (ev_is_file(override)) {
        char *text = ev_read_file(override, NULL);
        if (!text) return NULL;
        chat_template *t = chat_template_from_string(text, override);
        free(text);
        return t;
    }
    ev_error("unknown chat template '%s' (built-ins: chatml, llama3, mistral, none; or a path to a "
             ".jinja file)", override);
    return NULL;
}

static void no_template(const char *where, const char *why) {
    ev_error("%s: %s; pick one with --chat-template chatml|llama3|mistral|none", where, why);
}

static chat_template *from_gguf(const gguf_ctx *g, const char *path) {
    if (gguf_find_key(g, "tokenizer.chat_template") < 0) {
        no_template(path, "no tokenizer.chat_template in the GGUF metadata");
        return NULL;
    }
    char *src = gguf_get_strdup(g, "tokenizer.chat_template");
    if (!src) {
        ev_error("%s: tokenizer.chat_template is not a string", path);
        return NULL;
    }
    chat_template *t = chat_template_from_string(src, "GGUF tokenizer.chat_template");
    free(src);
    return t;
}

/* tokenizer_config.json / chat_template.json: "chat_template" is a string, or a
 * list of {name, template} of which "default" is the one apply_chat_template uses. */
static chat_template *from_config(const char *path, int *found) {
    *found = 0;
    if (!ev_is_file(path)) return NULL;
    json_error_t je;
    json_t *cfg = json_load_file(path, JSON_DECODE_INT_AS_REAL, &je);
    if (!cfg) {
        ev_error("%s: bad JSON: %s (line %d)", path, je.text, je.line);
        *found = -1;
        return NULL;
    }
    json_t *ct = json_object_get(cfg, "chat_template");
    chat_template *t = NULL;
    char origin[4200];
    if (json_is_string(ct)) {
        *found = 1;
        snprintf(origin, sizeof origin, "%s chat_template", path);
        t = chat_template_from_string(json_string_value(ct), origin);
    } else if (json_is_array(ct)) {
        *found = 1;
        size_t i;
        json_t *e;
        json_array_foreach(ct, i, e) {
            const char *nm = json_string_value(json_object_get(e, "name"));
            const char *tp = json_string_value(json_object_get(e, "template"));
            if (nm && tp && !strcmp(nm, "default")) {
                snprintf(origin, sizeof origin, "%s chat_template 'default'", path);
                t = chat_template_from_string(tp, origin);
                break;
            }
        }
        if (i == json_array_size(ct))
            ev_error("%s: chat_template lists named templates but none is called 'default'", path);
    } else if (ct && !json_is_null(ct)) {
        *found = 1;
        ev_error("%s: chat_template is neither a string nor a list of {name, template}", path);
    }
    json_decref(cfg);
    if (*found && !t) *found = -1;
    return t;
}

static chat_template *from_hf_dir(const char *dir) {
    char *p = ev_path_join(dir, "chat_template.jinja");
    if (ev_is_file(p)) {
        char *text = ev_read_file(p, NULL);
        chat_template *t = text ? chat_template_from_string(text, p) : NULL;
        free(text);
        free(p);
        return t;
    }
    free(p);
    static const char *const configs[] = {"tokenizer_config.json", "chat_template.json"};
    for (int i = 0; i < 2; i++) {
        int found;
        p = ev_path_join(dir, configs[i]);
        chat_template *t = from_config(p, &found);
        free(p);
        if (found) return t;
    }
    no_template(dir, "no chat_template.jinja and no \"chat_template\" in tokenizer_config.json");
    return NULL;
}

chat_template *chat_template_for_model(const model *m, const char *override) {
    if (override) return from_override(override);
    if (m->gguf) return from_gguf(m->gguf, m->path ? m->path : "model");
    if (m->dir) return from_hf_dir(m->dir);
    no_template(m->path ? m->path : "model", "the model has no tokenizer metadata");
    return NULL;
}

chat_template *chat_template_for_path(const char *path, const char *override) {
    if (override) return from_override(override);
    if (ev_is_dir(path)) return from_hf_dir(path);
    gguf_ctx *g = gguf_open(path);
    if (!g) return NULL;
    chat_template *t = from_gguf(g, path);
    gguf_close(g);
    return t;
}

/* ---------------------------------------------------------------- rendering */

/* transformers copies reasoning given as reasoning_content / thinking /
 * reasoning into both `thinking` (first) and `reasoning_content`. */
static json_t *alias_reasoning(json_t *msg) {
    static const char *const fields[] = {"reasoning_content", "thinking", "reasoning"};
    json_t *r = NULL;
    for (int i = 0; i < 3 && !r; i++) {
        json_t *v = json_object_get(msg, fields[i]);
        if (v && !json_is_null(v)) r = v;
    }
    if (!r) return json_incref(msg);
    json_t *out = json_object();
    json_object_set(out, "thinking", r);
    const char *k;
    json_t *v;
    json_object_foreach(msg, k, v) json_object_set(out, k, v);
    json_object_set(out, "reasoning_content", r);
    return out;
}

static jinja_error *pick_err(jinja_error *err, jinja_error *local) { return err ? err : local; }

char *chat_render_vars(const chat_template *t, const json_t *vars, jinja_error *err) {
    jinja_error local;
    jinja_error *e = pick_err(err, &local);
    memset(e, 0, sizeof *e);
    const char *what = NULL;
    json_t *msgs = json_object_get(vars, "messages");
    if (!json_is_object(vars)) what = "template variables must be a JSON object";
    else if (!json_is_array(msgs)) what = "messages must be a JSON array";
    else if (json_array_size(msgs) == 0)
        what = "Cannot apply chat template to an empty conversation. Provide at least one message.";
    if (!what) {
        size_t i;
        json_t *m;
        json_array_foreach(msgs, i, m) if (!json_is_object(m)) {
            snprintf(e->msg, sizeof e->msg, "message %zu is not a JSON object", i);
            what = e->msg;
            break;
        }
    }
    if (what) {
        if (what != e->msg) snprintf(e->msg, sizeof e->msg, "%s", what);
        if (!err) ev_error("chat template (%s): %s", t->origin, e->msg);
        return NULL;
    }
    json_t *v = json_deep_copy(vars);
    json_t *aliased = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m) json_array_append_new(aliased, alias_reasoning(m));
    json_object_set_new(v, "messages", aliased);
    if (!json_object_get(v, "tools")) json_object_set_new(v, "tools", json_null());
    if (!json_object_get(v, "documents")) json_object_set_new(v, "documents", json_null());
    char *out = jinja_render(t->jt, v, err);
    json_decref(v);
    return out;
}

char *chat_render(const chat_template *t, const json_t *messages, int add_generation_prompt,
                  const char *bos_token, const char *eos_token) {
    json_t *vars = json_object();
    json_object_set(vars, "messages", (json_t *)messages);
    json_object_set_new(vars, "add_generation_prompt", json_boolean(add_generation_prompt));
    if (bos_token) json_object_set_new(vars, "bos_token", json_string(bos_token));
    if (eos_token) json_object_set_new(vars, "eos_token", json_string(eos_token));
    char *out = chat_render_vars(t, vars, NULL);
    json_decref(vars);
    return out;
}

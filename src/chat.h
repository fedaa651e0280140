/* chat.h - chat templates: the model's own Jinja template (or a named built-in)
 * rendered over a list of messages, equal to transformers'
 * apply_chat_template(messages, add_generation_prompt=..., tokenize=False).
 *
 * Where the template comes from: GGUF `tokenizer.chat_template`; in an HF
 * directory `chat_template.jinja`, else `tokenizer_config.json` "chat_template"
 * (a string, or a list of {name, template} of which "default" is used). A config
 * or --chat-template override picks a built-in: chatml, llama3, mistral, none
 * (none: the contents concatenated, no markup). */
#ifndef EV_CHAT_H
#define EV_CHAT_H

#include <jansson.h>

#include "jinja.h"

struct model;
typedef struct chat_template chat_template;

/* override: NULL to use the model's own template, or a built-in name (or the
 * path of a .jinja file). Returns NULL after one error line (no template found,
 * unknown built-in, syntax error naming the line and the construct), e.g.
 * "evalctl: chat template (GGUF tokenizer.chat_template): line 3: unsupported
 * filter 'wordwrap'". strftime_now() in templates uses the local date, or
 * EVALCTL_DATE when set (see jinja.h). An empty conversation is refused, as
 * transformers refuses it. */
chat_template *chat_template_for_model(const struct model *m, const char *override);
/* The same without a loaded model (the tokenize command): path is a .gguf file
 * or an HF directory. */
chat_template *chat_template_for_path(const char *path, const char *override);
/* A template from source text; `origin` names it in error messages. */
chat_template *chat_template_from_string(const char *src, const char *origin);
void chat_template_free(chat_template *t);

/* messages: a JSON array of objects ({"role", "content"} and whatever else the
 * template reads). bos/eos: the tokenizer's special-token strings, passed to the
 * template as bos_token/eos_token (may be NULL). Returns a heap string owned by
 * the caller, or NULL after one error line (e.g. raise_exception's message). */
char *chat_render(const chat_template *t, const json_t *messages, int add_generation_prompt,
                  const char *bos_token, const char *eos_token);

/* Lower level: renders with every template variable given in `vars` (a JSON
 * object: messages, add_generation_prompt, bos_token, eos_token, tools, and any
 * other keyword a template reads, e.g. date_string); tools and documents
 * default to None as transformers passes them. Messages get transformers'
 * reasoning-field aliases. err: NULL prints the error line, else it is stored
 * there (for raise_exception, exactly the template's message). */
char *chat_render_vars(const chat_template *t, const json_t *vars, jinja_error *err);

/* The template's source text and where it came from (owned by t). */
const char *chat_template_source(const chat_template *t);
const char *chat_template_origin(const chat_template *t);

/* Built-in names, NULL-terminated: chatml, llama3, mistral, none. */
extern const char *const chat_builtin_names[];
/* Source of a built-in, or NULL for an unknown name. */
const char *chat_builtin_source(const char *name);

#endif

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

struct model;
typedef struct chat_template chat_template;

/* override: NULL to use the model's own template, or a built-in name. Returns
 * NULL after one error line (no template found, unknown built-in, syntax error
 * naming the line and the construct). */
chat_template *chat_template_for_model(const struct model *m, const char *override);
/* A template from source text; `origin` names it in error messages. */
chat_template *chat_template_from_string(const char *src, const char *origin);
void chat_template_free(chat_template *t);

/* messages: a JSON array of objects ({"role", "content"} and whatever else the
 * template reads). bos/eos: the tokenizer's special-token strings, passed to the
 * template as bos_token/eos_token (may be NULL). Returns a heap string owned by
 * the caller, or NULL after one error line (e.g. raise_exception's message). */
char *chat_render(const chat_template *t, const json_t *messages, int add_generation_prompt,
                  const char *bos_token, const char *eos_token);

#endif

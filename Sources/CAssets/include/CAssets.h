// The shipped tiny models, compiled into the binary (C23 #embed), so a copied or installed `orrery`
// finds them with no files next to it.
#ifndef ORRERY_CASSETS_H
#define ORRERY_CASSETS_H

extern const unsigned char orrery_chat_config_json[];
extern const unsigned long orrery_chat_config_json_size;
extern const unsigned char orrery_chat_tokenizer_json[];
extern const unsigned long orrery_chat_tokenizer_json_size;
extern const unsigned char orrery_chat_model_safetensors[];
extern const unsigned long orrery_chat_model_safetensors_size;

// Pointers as functions: Swift imports a C array of unknown size as a tuple-less symbol it cannot take
// the address of directly.
const unsigned char *orrery_chat_config_json_ptr(void);
const unsigned char *orrery_chat_tokenizer_json_ptr(void);
const unsigned char *orrery_chat_model_safetensors_ptr(void);

// The image lab's models: a DCGAN on glyphs, a VQGAN on shapes with its GPT prior.
extern const unsigned long orrery_gan_config_json_size;
extern const unsigned long orrery_gan_model_safetensors_size;
extern const unsigned long orrery_vqgan_config_json_size;
extern const unsigned long orrery_vqgan_model_safetensors_size;
const unsigned char *orrery_gan_config_json_ptr(void);
const unsigned char *orrery_gan_model_safetensors_ptr(void);
const unsigned char *orrery_vqgan_config_json_ptr(void);
const unsigned char *orrery_vqgan_model_safetensors_ptr(void);
// The diffusion lab's pixel DDPM on glyphs.
extern const unsigned long orrery_ddpm_config_json_size;
extern const unsigned long orrery_ddpm_model_safetensors_size;
const unsigned char *orrery_ddpm_config_json_ptr(void);
const unsigned char *orrery_ddpm_model_safetensors_ptr(void);
// The diffusion lab's text-conditioned latent model on shapes.
extern const unsigned long orrery_ldm_config_json_size;
extern const unsigned long orrery_ldm_model_safetensors_size;
const unsigned char *orrery_ldm_config_json_ptr(void);
const unsigned char *orrery_ldm_model_safetensors_ptr(void);

// The sequence lab's online action detectors (OadTR and its GRU baseline).
extern const unsigned long orrery_oad_config_json_size;
extern const unsigned long orrery_oad_model_safetensors_size;
const unsigned char *orrery_oad_config_json_ptr(void);
const unsigned char *orrery_oad_model_safetensors_ptr(void);

#endif

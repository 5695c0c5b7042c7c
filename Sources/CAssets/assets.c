// The files of assets/models/chat, embedded at build time. The safetensors image is 8-byte aligned
// (its header is padded to 8 bytes, so the float data stays 4-byte aligned for loading).
#include "CAssets.h"

const unsigned char orrery_chat_config_json[] = {
#embed "../../assets/models/chat/config.json"
};
const unsigned long orrery_chat_config_json_size = sizeof(orrery_chat_config_json);

const unsigned char orrery_chat_tokenizer_json[] = {
#embed "../../assets/models/chat/tokenizer.json"
};
const unsigned long orrery_chat_tokenizer_json_size = sizeof(orrery_chat_tokenizer_json);

__attribute__((aligned(64))) const unsigned char orrery_chat_model_safetensors[] = {
#embed "../../assets/models/chat/model.safetensors"
};
const unsigned long orrery_chat_model_safetensors_size = sizeof(orrery_chat_model_safetensors);

const unsigned char *orrery_chat_config_json_ptr(void) { return orrery_chat_config_json; }
const unsigned char *orrery_chat_tokenizer_json_ptr(void) { return orrery_chat_tokenizer_json; }
const unsigned char *orrery_chat_model_safetensors_ptr(void) { return orrery_chat_model_safetensors; }

static const unsigned char gan_config_json[] = {
#embed "../../assets/models/gan-glyphs/config.json"
};
const unsigned long orrery_gan_config_json_size = sizeof(gan_config_json);
__attribute__((aligned(64))) static const unsigned char gan_model_safetensors[] = {
#embed "../../assets/models/gan-glyphs/model.safetensors"
};
const unsigned long orrery_gan_model_safetensors_size = sizeof(gan_model_safetensors);
const unsigned char *orrery_gan_config_json_ptr(void) { return gan_config_json; }
const unsigned char *orrery_gan_model_safetensors_ptr(void) { return gan_model_safetensors; }

static const unsigned char vqgan_config_json[] = {
#embed "../../assets/models/vqgan-shapes/config.json"
};
const unsigned long orrery_vqgan_config_json_size = sizeof(vqgan_config_json);
__attribute__((aligned(64))) static const unsigned char vqgan_model_safetensors[] = {
#embed "../../assets/models/vqgan-shapes/model.safetensors"
};
const unsigned long orrery_vqgan_model_safetensors_size = sizeof(vqgan_model_safetensors);
const unsigned char *orrery_vqgan_config_json_ptr(void) { return vqgan_config_json; }
const unsigned char *orrery_vqgan_model_safetensors_ptr(void) { return vqgan_model_safetensors; }

static const unsigned char ddpm_config_json[] = {
#embed "../../assets/models/ddpm-glyphs/config.json"
};
const unsigned long orrery_ddpm_config_json_size = sizeof(ddpm_config_json);
__attribute__((aligned(64))) static const unsigned char ddpm_model_safetensors[] = {
#embed "../../assets/models/ddpm-glyphs/model.safetensors"
};
const unsigned long orrery_ddpm_model_safetensors_size = sizeof(ddpm_model_safetensors);
const unsigned char *orrery_ddpm_config_json_ptr(void) { return ddpm_config_json; }
const unsigned char *orrery_ddpm_model_safetensors_ptr(void) { return ddpm_model_safetensors; }

static const unsigned char ldm_config_json[] = {
#embed "../../assets/models/ldm-shapes/config.json"
};
const unsigned long orrery_ldm_config_json_size = sizeof(ldm_config_json);
__attribute__((aligned(64))) static const unsigned char ldm_model_safetensors[] = {
#embed "../../assets/models/ldm-shapes/model.safetensors"
};
const unsigned long orrery_ldm_model_safetensors_size = sizeof(ldm_model_safetensors);
const unsigned char *orrery_ldm_config_json_ptr(void) { return ldm_config_json; }
const unsigned char *orrery_ldm_model_safetensors_ptr(void) { return ldm_model_safetensors; }

static const unsigned char oad_config_json[] = {
#embed "../../assets/models/oad-stream/config.json"
};
const unsigned long orrery_oad_config_json_size = sizeof(oad_config_json);
__attribute__((aligned(64))) static const unsigned char oad_model_safetensors[] = {
#embed "../../assets/models/oad-stream/model.safetensors"
};
const unsigned long orrery_oad_model_safetensors_size = sizeof(oad_model_safetensors);
const unsigned char *orrery_oad_config_json_ptr(void) { return oad_config_json; }
const unsigned char *orrery_oad_model_safetensors_ptr(void) { return oad_model_safetensors; }

// Raw BTF reads for globals by name: the variables of a DATASEC and single type records.
// Resolving names, typedefs and sizes into accessors is done in TypeScript.
#include "common.h"

#include <cerrno>

namespace nbpf {

static const btf* ObjectBtf(Napi::Env env, bpf_object* obj) {
  const btf* b = bpf_object__btf(obj);
  if (!b) ThrowErrno(env, "bpf_object__btf (object has no BTF)", ENOENT);
  return b;
}

// btfDatasec(".bss") -> [{name, typeId, offset, size}] | undefined
Napi::Value NativeObject::BtfDatasec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const btf* b = ObjectBtf(env, Raw(env));
  std::string sec = ArgString(info, 0, "section");
  int id = btf__find_by_name_kind(b, sec.c_str(), BTF_KIND_DATASEC);
  if (id < 0) return env.Undefined();
  const btf_type* t = btf__type_by_id(b, id);
  const btf_var_secinfo* vs = btf_var_secinfos(t);
  uint16_t n = btf_vlen(t);
  Napi::Array out = Napi::Array::New(env, n);
  for (uint16_t i = 0; i < n; i++, vs++) {
    const btf_type* var = btf__type_by_id(b, vs->type);
    // A damaged .BTF can point outside its types: an error, never a NULL dereference.
    if (!var) ThrowErrno(env, "btf__type_by_id (a DATASEC variable of " + sec + " names no type)", EINVAL);
    Napi::Object d = Napi::Object::New(env);
    d.Set("name", Str(env, btf__name_by_offset(b, var->name_off)));
    d.Set("typeId", var->type);
    d.Set("offset", vs->offset);
    d.Set("size", vs->size);
    out.Set(i, d);
  }
  return out;
}

// btfType(id) -> {kind, name, size, type, signed, bool, bits, nelems, elemType} (fields as apply)
Napi::Value NativeObject::BtfType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const btf* b = ObjectBtf(env, Raw(env));
  uint32_t id = ArgU32(info, 0, "type id");
  const btf_type* t = btf__type_by_id(b, id);
  if (!t) ThrowErrno(env, "btf__type_by_id", ENOENT);
  Napi::Object d = Napi::Object::New(env);
  uint16_t kind = btf_kind(t);
  d.Set("kind", kind);
  d.Set("name", Str(env, btf__name_by_offset(b, t->name_off)));
  switch (kind) {
    case BTF_KIND_INT: {
      uint32_t enc = btf_int_encoding(t);
      d.Set("size", t->size);
      d.Set("signed", (enc & BTF_INT_SIGNED) != 0);
      d.Set("bool", (enc & BTF_INT_BOOL) != 0);
      d.Set("bits", btf_int_bits(t));
      break;
    }
    case BTF_KIND_ARRAY: {
      const struct btf_array* a = btf_array(t);
      d.Set("elemType", a->type);
      d.Set("nelems", a->nelems);
      break;
    }
    case BTF_KIND_ENUM:
    case BTF_KIND_ENUM64:
      d.Set("size", t->size);
      d.Set("signed", (btf_kflag(t)));
      break;
    case BTF_KIND_STRUCT:
    case BTF_KIND_UNION:
    case BTF_KIND_FLOAT:
    case BTF_KIND_DATASEC:
      d.Set("size", t->size);
      break;
    case BTF_KIND_PTR:
      d.Set("size", 8);
      d.Set("type", t->type);
      break;
    default:  // typedef, volatile, const, restrict, type_tag, var, func...
      d.Set("type", t->type);
      break;
  }
  return d;
}

}  // namespace nbpf

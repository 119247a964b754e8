// The Python module fastgan._C (or fastgan._C_cuda_emu*, the emulated CUDA builds: the module's
// name is TORCH_EXTENSION_NAME). Importing it loads the shared library, whose static initialisers
// register the operators with torch; the module itself only carries build information. It uses
// the plain CPython API (no pybind11, no torch/extension.h) to keep the build fast.
#include <Python.h>

#define FASTGAN_STRINGIFY_(...) #__VA_ARGS__
#define FASTGAN_STRINGIFY(...) FASTGAN_STRINGIFY_(__VA_ARGS__)

#ifndef FASTGAN_CUDA_ARCHS
#define FASTGAN_CUDA_ARCHS
#endif
#ifndef FASTGAN_BUILT_WITH_TORCH
#define FASTGAN_BUILT_WITH_TORCH unknown
#endif
// "": native kernels; else the variant of the CUDA emulation ("plain", "tsan", "asan").
#ifndef FASTGAN_CUDA_EMU_VARIANT
#define FASTGAN_CUDA_EMU_VARIANT
#endif
#define FASTGAN_CONCAT_(a, b) a##b
#define FASTGAN_CONCAT(a, b) FASTGAN_CONCAT_(a, b)

static struct PyModuleDef fastgan_module = {
    PyModuleDef_HEAD_INIT, FASTGAN_STRINGIFY(TORCH_EXTENSION_NAME), "fastgan compiled operators (C++ CPU and CUDA kernels).", -1,
    nullptr, nullptr, nullptr, nullptr, nullptr};

PyMODINIT_FUNC FASTGAN_CONCAT(PyInit_, TORCH_EXTENSION_NAME)(void) {
  PyObject* module = PyModule_Create(&fastgan_module);
  if (module == nullptr) return nullptr;
#ifdef FASTGAN_WITH_CUDA
  const int with_cuda = 1;
#else
  const int with_cuda = 0;
#endif
  if (PyModule_AddIntConstant(module, "with_cuda", with_cuda) < 0 ||
      PyModule_AddStringConstant(module, "cuda_archs", FASTGAN_STRINGIFY(FASTGAN_CUDA_ARCHS)) < 0 ||
      PyModule_AddStringConstant(module, "built_with_torch",
                                 FASTGAN_STRINGIFY(FASTGAN_BUILT_WITH_TORCH)) < 0 ||
      PyModule_AddStringConstant(module, "cuda_emulation",
                                 FASTGAN_STRINGIFY(FASTGAN_CUDA_EMU_VARIANT)) < 0) {
    Py_DECREF(module);
    return nullptr;
  }
  return module;
}

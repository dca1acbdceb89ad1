# PyInstaller runtime hook: let torchvision's Python part import beside a CPU-only torch.
#
# The registry's Linux torchvision wheels carry a C extension linked against torch's CUDA
# libraries; beside a CPU torch it cannot load, and torchvision then fails at import in
# _meta_registrations (register_fake("torchvision::nms") on an operator that was never defined).
# timm imports torchvision.ops.misc (pure Python) at import time, and RIS Studio uses no
# torchvision operator. When the extension is missing, define the two operators' schemas, with
# no kernel, just before torchvision registers their fake implementations; calling them would
# raise torch's "no kernel" error. With a working torchvision (its extension loads) this does
# nothing. Measured: packaging/README.md, "torchvision".
import importlib.abc
import sys


class _TorchvisionOpsGuard(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname != "torchvision._meta_registrations":
            return
        sys.meta_path.remove(self)
        import torch
        import torchvision.extension

        if not torchvision.extension._has_ops():
            lib = torch.library.Library("torchvision", "FRAGMENT")
            lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
            sys.modules["torchvision.extension"]._ris_cpu_ops_lib = lib  # keep the definitions alive
        return  # the normal import goes on


sys.meta_path.insert(0, _TorchvisionOpsGuard())

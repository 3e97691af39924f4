"""OpenAI-compatible servers that run on the caller's machine or network: no key needed, documented default ports
(see ``compat_rows`` for how rows are built)."""

from __future__ import annotations

from tollway.adapters.compat_rows import VLLM_PARAMS as _VLLM_PARAMS
from tollway.adapters.compat_rows import local as _local
from tollway.adapters.compat_rows import local_unconfirmed as _local_unc

__all__ = ["LOCAL_PROVIDERS"]

# fmt: off
LOCAL_PROVIDERS = (
    _local("lm_studio", "http://localhost:1234/v1", ("LM_STUDIO_API_KEY",),
        "https://lmstudio.ai/docs/api/openai-api"),
    # `vllm serve` listens on 8000; its sampling extensions are documented beside OpenAI's; newer releases name
    # the reasoning field "reasoning" (older ones "reasoning_content", which passes through as is).
    _local("vllm", "http://localhost:8000/v1", ("VLLM_API_KEY",),
        "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
        reasoning_field="reasoning",
        extra_params=_VLLM_PARAMS),
    _local("hosted_vllm", "http://localhost:8000/v1", ("HOSTED_VLLM_API_KEY", "VLLM_API_KEY"),
        "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
        reasoning_field="reasoning",
        extra_params=_VLLM_PARAMS),
    _local(
        "llamafile",
        "http://localhost:8080/v1",
        ("LLAMAFILE_API_KEY",),
        "https://docs.litellm.ai/docs/providers/llamafile",
    ),
    _local(
        "lemonade",
        "http://localhost:13305/v1",
        ("LEMONADE_API_KEY",),
        "https://lemonade-server.ai/api/openai.html",
    ),
    _local("docker_model_runner", "http://localhost:12434/engines/v1", ("DOCKER_MODEL_RUNNER_API_KEY",),
        "https://docs.docker.com/ai/model-runner/api-reference/"),
    # A LiteLLM proxy forwards any provider's parameters, so nothing is filtered here (port 4000 by default).
    _local("litellm_proxy", "http://localhost:4000", ("LITELLM_PROXY_API_KEY",),
        "https://docs.litellm.ai/docs/providers/litellm_proxy",
        permissive=True),
    _local(
        "xinference",
        "http://127.0.0.1:9997/v1",
        ("XINFERENCE_API_KEY",),
        "https://inference.readthedocs.io/en/latest/models/model_abilities/chat.html",
    ),
    # Infinity serves embeddings (and rerank), not chat.
    _local(
        "infinity",
        "http://localhost:7997",
        ("INFINITY_API_KEY",),
        "https://github.com/michaelfeil/infinity/blob/main/docs/docs/cli_v2.md",
    ),
    _local("oobabooga", "http://127.0.0.1:5000/v1", ("OOBABOOGA_API_KEY",),
        "https://github.com/oobabooga/text-generation-webui/wiki/12-%E2%80%90-OpenAI-API"),
    _local(
        "sglang",
        "http://localhost:30000/v1",
        ("SGLANG_API_KEY",),
        "https://www.mintlify.com/sgl-project/sglang/backend/openai-compatible-api",
    ),
    _local(
        "tgi",
        "http://localhost:3000/v1",
        ("TGI_API_KEY",),
        "https://huggingface.co/docs/text-generation-inference/messages_api",
    ),
    _local(
        "llama_cpp",
        "http://localhost:8080/v1",
        ("LLAMA_CPP_API_KEY",),
        "https://www.mintlify.com/ggml-org/llama.cpp/api/tools/llama-server",
    ),
    _local(
        "localai",
        "http://localhost:8080/v1",
        ("LOCALAI_API_KEY",),
        "https://deploy-preview-7298--localai.netlify.app/docs/reference/api-reference",
    ),
    _local(
        "lmdeploy",
        "http://localhost:23333/v1",
        ("LMDEPLOY_API_KEY",),
        "https://lmdeploy.readthedocs.io/en/v0.4.0/serving/api_server.html",
    ),
    _local_unc("koboldcpp", "http://localhost:5001/v1", ("KOBOLDCPP_API_KEY",),
        "https://github.com/LostRuins/koboldcpp/wiki"),
    _local("jan", "http://localhost:1337/v1", ("JAN_API_KEY",), "https://jan.ai/docs/local-api"),
    _local(
        "aphrodite",
        "http://localhost:2242/v1",
        ("APHRODITE_API_KEY",),
        "https://github.com/dphnAI/sonar/wiki/2.-Usage",
    ),
    _local(
        "tabbyapi",
        "http://127.0.0.1:5000/v1",
        ("TABBYAPI_API_KEY",),
        "https://github.com/theroyallab/tabbyAPI/wiki/02.-Server-options",
    ),
    _local(
        "mlx_lm",
        "http://127.0.0.1:8080/v1",
        ("MLX_LM_API_KEY",),
        "https://github.com/ml-explore/mlx-examples/blob/main/llms/mlx_lm/SERVER.md",
    ),
)
# fmt: on

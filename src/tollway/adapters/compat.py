"""The OpenAI-compatible vendors: one ``ProviderSpec`` row each, all served by the OpenAI adapter.

Each row's facts (base URL, key variable, quirks) come from the vendor's own documentation, cited in ``source``.
Quirks are those ``tollway.adapters.openai`` understands (see its docstring). Names are LiteLLM's prefixes
(../shared/LITELLM.md §1.2) so model strings migrate unchanged; key variables list LiteLLM's name first, then the
vendor's own. Every row also reads ``<NAME>_API_BASE`` (upper case, ``-`` as ``_``) for a base-URL override.

Rows built with ``_unc``/``_local_unc`` carry "unconfirmed" in their source: the page is where the facts should come
from, but they were not re-read against it when the row was written; check it before relying on that row. Rows
with ``api_base=None`` are per-account endpoints (a workspace or account id in the host or path): the caller gives
the base URL (``api_base=`` or the ``<NAME>_API_BASE`` variable).
"""

from __future__ import annotations

from tollway.adapters.compat_local import LOCAL_PROVIDERS
from tollway.adapters.compat_rows import OPEN_SAMPLING, VLLM_PARAMS
from tollway.adapters.compat_rows import hosted as _row
from tollway.adapters.compat_rows import hosted_unconfirmed as _unc
from tollway.spec import ProviderSpec

__all__ = ["COMPATIBLE_PROVIDERS"]

# Parameter sets several rows document beside OpenAI's.
_OPEN_SAMPLING = OPEN_SAMPLING
_QWEN_PARAMS = ("enable_thinking", "thinking_budget", "enable_search", "top_k")
_VLLM_PARAMS = VLLM_PARAMS
_OPENROUTER_PARAMS = ("models", "provider", "reasoning", "transforms", "usage", "plugins", "top_a", *_OPEN_SAMPLING)
_PERPLEXITY_PARAMS = (
    "search_domain_filter",
    "search_recency_filter",
    "search_mode",
    "return_images",
    "return_related_questions",
    "top_k",
)
_CEREBRAS_REJECTS = ("frequency_penalty", "presence_penalty", "logit_bias", "parallel_tool_calls", "service_tier")

# fmt: off
# Two lines a row (name, default base URL, key variables / source, quirks) keep the table scannable.
_HOSTED = (
    # console.groq.com/docs/openai: logprobs, logit_bias, top_logprobs are a 400 (so are messages[].name and n != 1,
    # which a whitelist cannot express); reasoning text arrives in message.reasoning (PROVIDERS.md §11).
    _row("groq", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",),
        "https://console.groq.com/docs/openai",
        unsupported_params=("logprobs", "logit_bias", "top_logprobs"),
        extra_params=("reasoning_format", "include_reasoning"),
        reasoning_field="reasoning"),
    _row("together_ai", "https://api.together.ai/v1", ("TOGETHERAI_API_KEY", "TOGETHER_API_KEY"),
        "https://docs.together.ai/docs/inference/openai-compatibility",
        extra_params=_OPEN_SAMPLING),
    # DeepSeek documents max_tokens only (PROVIDERS.md §14.4) and a "thinking" switch in its first-call example.
    _row("deepseek", "https://api.deepseek.com", ("DEEPSEEK_API_KEY",),
        "https://api-docs.deepseek.com/",
        max_tokens_field="max_tokens",
        extra_params=("thinking",)),
    _row("xai", "https://api.x.ai/v1", ("XAI_API_KEY",),
        "https://docs.x.ai/api/integrations"),
    # docs.fireworks.ai: max_tokens is lowered to fit the context unless context_length_exceeded_behavior is "error".
    _row("fireworks_ai", "https://api.fireworks.ai/inference/v1", ("FIREWORKS_AI_API_KEY", "FIREWORKS_API_KEY"),
        "https://docs.fireworks.ai/tools-sdks/openai-compatibility",
        extra_params=(*_OPEN_SAMPLING, "context_length_exceeded_behavior")),
    # openrouter.ai/docs: routing (models, provider) and reasoning settings; reasoning text in message.reasoning.
    _row("openrouter", "https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",),
        "https://openrouter.ai/docs/quick-start",
        reasoning_field="reasoning",
        extra_params=_OPENROUTER_PARAMS),
    _row("perplexity", "https://api.perplexity.ai", ("PERPLEXITYAI_API_KEY", "PERPLEXITY_API_KEY"),
        "https://docs.perplexity.ai/docs/sonar/openai-compatibility",
        extra_params=_PERPLEXITY_PARAMS),
    _row("deepinfra", "https://api.deepinfra.com/v1/openai", ("DEEPINFRA_API_KEY",),
        "https://deepinfra.com/docs/advanced/openai_api",
        extra_params=_OPEN_SAMPLING),
    # Cerebras' OpenAI-compatibility page lists these fields as a 400.
    _row("cerebras", "https://api.cerebras.ai/v1", ("CEREBRAS_API_KEY",),
        "https://inference-docs.cerebras.ai/resources/openai",
        unsupported_params=_CEREBRAS_REJECTS,
        extra_params=("reasoning_format", "clear_thinking")),
    _row("sambanova", "https://api.sambanova.ai/v1", ("SAMBANOVA_API_KEY",),
        "https://docs.sambanova.ai/cloud/docs/capabilities/openai-compatibility"),
    _row("nvidia_nim", "https://integrate.api.nvidia.com/v1", ("NVIDIA_NIM_API_KEY", "NVIDIA_API_KEY"),
        "https://build.nvidia.com/ (API catalog: OpenAI-compatible base URL and Bearer key)"),
    _row("huggingface", "https://router.huggingface.co/v1", ("HUGGINGFACE_API_KEY", "HF_TOKEN"),
        "https://huggingface.co/docs/inference-providers/index"),
    # https://<workspace-host>/serving-endpoints: the host is the caller's workspace.
    _row("databricks", None, ("DATABRICKS_API_KEY", "DATABRICKS_TOKEN"),
        "https://docs.databricks.com/aws/en/machine-learning/model-serving/score-chat-models"
        " (OpenAI client: base_url https://<workspace>/serving-endpoints; $DATABRICKS_TOKEN)"),
    # https://api.cloudflare.com/client/v4/accounts/<account_id>/ai/v1: the path holds the caller's account id.
    _row("cloudflare", None, ("CLOUDFLARE_API_KEY", "CLOUDFLARE_API_TOKEN"),
        "https://developers.cloudflare.com/workers-ai/configuration/open-ai-compatibility/"),
    _row("moonshot", "https://api.moonshot.ai/v1", ("MOONSHOT_API_KEY",),
        "https://platform.kimi.ai/docs/api/overview"),
    _row("moonshot_cn", "https://api.moonshot.cn/v1", ("MOONSHOT_API_KEY",),
        "https://platform.kimi.com/docs/api/overview (China endpoint)"),
    # Alibaba Model Studio: Singapore host (Beijing for qwen_ai_platform); Qwen switches go in the body.
    _row("dashscope", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1", ("DASHSCOPE_API_KEY",),
        "https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope",
        extra_params=_QWEN_PARAMS),
    _row("qwencloud", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        ("QWENCLOUD_API_KEY", "DASHSCOPE_API_KEY"),
        "https://docs.litellm.ai/docs/providers/qwencloud (LiteLLM's names for Alibaba's renamed platform)",
        extra_params=_QWEN_PARAMS),
    _row("qwen_ai_platform", "https://dashscope.aliyuncs.com/compatible-mode/v1",
        ("QWEN_AI_PLATFORM_API_KEY", "DASHSCOPE_API_KEY"),
        "https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope"
        " (China (Beijing) host; the key variable name is unconfirmed)",
        extra_params=_QWEN_PARAMS),
    _row("zai", "https://api.z.ai/api/paas/v4", ("ZAI_API_KEY",),
        "https://docs.z.ai/api-reference/introduction",
        extra_params=("thinking", "do_sample", "request_id")),
    # The China platform's own SDK page reads ZAI_API_KEY; ZHIPUAI_API_KEY is the older zhipuai SDK's name.
    _row("zhipuai", "https://open.bigmodel.cn/api/paas/v4", ("ZHIPUAI_API_KEY", "ZAI_API_KEY"),
        "https://docs.bigmodel.cn/cn/guide/develop/http/introduction (China endpoint of Z.ai's GLM API)",
        extra_params=("thinking", "do_sample", "request_id")),
    _row("minimax", "https://api.minimax.io/v1", ("MINIMAX_API_KEY",),
        "https://platform.minimax.io/docs/api-reference/text-openai-api",
        extra_params=("reasoning_split",)),
    _row("minimax_cn", "https://api.minimaxi.com/v1", ("MINIMAX_API_KEY",),
        "https://platform.minimaxi.com/docs/api-reference/text-openai-api (China endpoint)",
        extra_params=("reasoning_split",)),
    _row("volcengine", "https://ark.cn-beijing.volces.com/api/v3", ("VOLCENGINE_API_KEY", "ARK_API_KEY"),
        "https://www.volcengine.com/docs/82379/1263482 (Ark chat API)",
        extra_params=("thinking",)),
    _row("byteplus", "https://ark.ap-southeast.bytepluses.com/api/v3", ("BYTEPLUS_API_KEY", "ARK_API_KEY"),
        "https://docs.byteplus.com/docs/ModelArk/1544136 (ModelArk chat API)",
        extra_params=("thinking",)),
    _row("novita", "https://api.novita.ai/v3/openai", ("NOVITA_API_KEY",),
        "https://novita.ai/docs/guides/llm-api",
        extra_params=_OPEN_SAMPLING),
    # AI Studio was renamed Token Factory; older pages show https://api.studio.nebius.com/v1.
    _row("nebius", "https://api.tokenfactory.nebius.com/v1", ("NEBIUS_API_KEY",),
        "https://docs.tokenfactory.nebius.com/api-reference/examples/text-generation"),
    # https://<resource>.services.ai.azure.com/models: per resource; key auth uses the api-key header.
    _row(
        "azure_ai",
        None,
        ("AZURE_AI_API_KEY",),
        "https://learn.microsoft.com/en-us/azure/ai-foundry/foundry-models/how-to/inference",
        auth_header="api-key",
    ),
    _row("github", "https://models.github.ai/inference", ("GITHUB_API_KEY", "GITHUB_TOKEN"),
        "https://docs.github.com/en/github-models/quickstart"),
    _row("anyscale", "https://api.endpoints.anyscale.com/v1", ("ANYSCALE_API_KEY",), "https://docs.anyscale.com/canary/endpoints/text-generation/authenticate"
        " (Anyscale's shared pay-per-token Endpoints service ended on 2024-08-01; kept for migrated configs)"),
    _row(
        "ai21",
        "https://api.ai21.com/studio/v1",
        ("AI21_API_KEY",),
        "https://docs.ai21.com/reference/jamba-1-6-api-ref",
    ),
    _row(
        "baseten",
        "https://inference.baseten.co/v1",
        ("BASETEN_API_KEY",),
        "https://docs.baseten.co/reference/inference-api/chat-completions",
    ),
    _row(
        "friendliai",
        "https://api.friendli.ai/serverless/v1",
        ("FRIENDLIAI_API_KEY", "FRIENDLI_TOKEN"),
        "https://friendli.ai/docs/openapi/create-chat-completions",
    ),
    _row(
        "hyperbolic",
        "https://api.hyperbolic.xyz/v1",
        ("HYPERBOLIC_API_KEY",),
        "https://docs.hyperbolic.xyz/docs/rest-api",
    ),
    _row("lambda_ai", "https://api.lambda.ai/v1", ("LAMBDA_API_KEY",), "https://docs.lambda.ai/public-cloud/lambda-inference-api/"
        " (Lambda's docs announce the Inference API's shutdown)"),
    _row(
        "nscale",
        "https://inference.api.nscale.com/v1",
        ("NSCALE_API_KEY", "NSCALE_SERVICE_TOKEN"),
        "https://docs.nscale.com/docs/inference/chat",
    ),
    _row(
        "featherless_ai",
        "https://api.featherless.ai/v1",
        ("FEATHERLESS_AI_API_KEY", "FEATHERLESS_API_KEY"),
        "https://featherless.ai/docs/quickstart-guide",
    ),
    _row(
        "galadriel",
        "https://api.galadriel.com/v1",
        ("GALADRIEL_API_KEY",),
        "https://docs.galadriel.com/api-reference/chat-completion-API",
    ),
    _row(
        "clarifai",
        "https://api.clarifai.com/v2/ext/openai/v1",
        ("CLARIFAI_API_KEY", "CLARIFAI_PAT"),
        "https://docs.clarifai.com/compute/providers",
    ),
    _row("aiml", "https://api.aimlapi.com/v1", ("AIML_API_KEY",), "https://docs.aimlapi.com/glossary/concepts"),
    _row(
        "veniceai",
        "https://api.venice.ai/api/v1",
        ("VENICE_AI_API_KEY", "VENICE_API_KEY"),
        "https://docs.venice.ai/guides/getting-started/openai-migration",
        extra_params=("venice_parameters",),
    ),
    _row(
        "scaleway",
        "https://api.scaleway.ai/v1",
        ("SCW_SECRET_KEY",),
        "https://www.scaleway.com/en/docs/generative-apis/api-cli/using-chat-api/",
    ),
    _row(
        "ovhcloud",
        "https://oai.endpoints.kepler.ai.cloud.ovh.net/v1",
        ("OVHCLOUD_API_KEY", "OVH_AI_ENDPOINTS_ACCESS_TOKEN"),
        "https://www.ovhcloud.com/en-in/public-cloud/ai-endpoints/catalog/gpt-oss-20b",
    ),
    _row(
        "heroku",
        "https://us.inference.heroku.com/v1",
        ("HEROKU_API_KEY", "INFERENCE_KEY"),
        "https://devcenter.heroku.com/articles/openai-compatibility-chat-completions",
    ),
    _row(
        "morph",
        "https://api.morphllm.com/v1",
        ("MORPH_API_KEY",),
        "https://docs.morphllm.com/api-reference/endpoint/apply",
    ),
    _row(
        "datarobot",
        "https://app.datarobot.com/api/v2/genai/llmgw",
        ("DATAROBOT_API_TOKEN", "DATAROBOT_API_KEY"),
        "https://docs.datarobot.com/en/docs/gen-ai/genai-code/dr-llm-gateway.html",
    ),
    _row(
        "gradient_ai",
        "https://inference.do-ai.run/v1",
        ("GRADIENT_AI_API_KEY", "MODEL_ACCESS_KEY"),
        "https://docs.digitalocean.com/products/inference-hub/how-to/retrieve-available-models/",
    ),
    _row("v0", "https://api.v0.dev/v1", ("V0_API_KEY",), "https://v0.app/docs/cursor"),
    _row(
        "vercel_ai_gateway",
        "https://ai-gateway.vercel.sh/v1",
        ("VERCEL_AI_GATEWAY_API_KEY", "AI_GATEWAY_API_KEY"),
        "https://vercel.com/docs/ai-gateway/openai-compat",
    ),
    _row(
        "llamagate",
        "https://api.llamagate.dev/v1",
        ("LLAMAGATE_API_KEY",),
        "https://docs.litellm.ai/docs/providers/llamagate",
    ),
    _row(
        "poe",
        "https://api.poe.com/v1",
        ("POE_API_KEY",),
        "https://creator.poe.com/docs/external-applications/openai-compatible-api",
    ),
    _row("chutes", "https://llm.chutes.ai/v1", ("CHUTES_API_KEY",), "https://chutes.ai/agents/connect"),
    _row(
        "synthetic",
        "https://api.synthetic.new/openai/v1",
        ("SYNTHETIC_API_KEY",),
        "https://dev.synthetic.new/docs/api/overview",
    ),
    _row(
        "apertis",
        "https://api.apertis.ai/v1",
        ("STIMA_API_KEY", "APERTIS_API_KEY"),
        "https://docs.apertis.ai/help/faq",
    ),
    _row(
        "nano-gpt",
        "https://nano-gpt.com/api/v1",
        ("NANOGPT_API_KEY",),
        "https://docs.nano-gpt.com/api-reference/text-generation",
    ),
    _unc("publicai", "https://api.publicai.co/v1", ("PUBLICAI_API_KEY",),
        "https://docs.publicai.co/"),
    _row(
        "helicone",
        "https://ai-gateway.helicone.ai/v1",
        ("HELICONE_API_KEY",),
        "https://docs.helicone.ai/rest/ai-gateway/post-v1-chat-completions",
    ),
    _row(
        "xiaomi_mimo",
        "https://api.xiaomimimo.com/v1",
        ("XIAOMI_MIMO_API_KEY", "MIMO_API_KEY"),
        "https://platform.xiaomimimo.com/docs/en-US/api/chat/openai-api",
    ),
    _row(
        "gmi",
        "https://api.gmi-serving.com/v1",
        ("GMI_API_KEY",),
        "https://docs.gmicloud.ai/inference-engine/api-reference",
    ),
    _row(
        "sarvam",
        "https://api.sarvam.ai/v1",
        ("SARVAM_API_KEY",),
        "https://docs.sarvam.ai/api-reference-docs/chat/chat-completions",
    ),
    _row(
        "abliteration",
        "https://api.abliteration.ai/v1",
        ("ABLITERATION_API_KEY", "ABLIT_KEY"),
        "https://abliteration.ai/docs/openai-compatibility",
    ),
    _row(
        "wandb",
        "https://api.inference.wandb.ai/v1",
        ("WANDB_API_KEY",),
        "https://docs.wandb.ai/inference/api-reference",
    ),
    _row(
        "cometapi",
        "https://api.cometapi.com/v1",
        ("COMETAPI_KEY", "COMETAPI_API_KEY"),
        "https://apidoc.cometapi.com/quickstarts/text/openai-compatible-api",
    ),
    _row(
        "compactifai",
        "https://api.compactif.ai/v1",
        ("COMPACTIFAI_API_KEY",),
        "https://docs.compactif.ai/api_reference",
    ),
    _row(
        "meta_llama",
        "https://api.llama.com/compat/v1",
        ("LLAMA_API_KEY",),
        "https://github.com/meta-llama/llama-stack/blob/main/docs/source/providers/inference/remote_llama-openai-compat.md",
    ),
    _row(
        "maritalk",
        "https://chat.maritaca.ai/api",
        ("MARITALK_API_KEY", "MARITACA_API_KEY"),
        "https://docs.maritaca.ai/api/pt/completion",
    ),
    _row(
        "empower",
        "https://app.empower.dev/api/v1",
        ("EMPOWER_API_KEY",),
        "https://github.com/empower-ai/empower-functions/blob/main/docs/inference/streaming.md",
    ),
    _row(
        "amazon_nova",
        "https://api.nova.amazon.com/v1",
        ("AMAZON_NOVA_API_KEY", "NOVA_API_KEY"),
        "https://strandsagents.com/docs/user-guide/concepts/model-providers/amazon-nova/",
    ),
    _row(
        "siliconflow",
        "https://api.siliconflow.com/v1",
        ("SILICONFLOW_API_KEY",),
        "https://www.siliconflow.com/blog/openai-sdk-siliconflow-compatibility-checks",
    ),
    _row(
        "stepfun",
        "https://api.stepfun.com/v1",
        ("STEPFUN_API_KEY", "STEP_API_KEY"),
        "https://platform.stepfun.com/docs/zh/quickstart/overview.md",
    ),
    _unc("baichuan", "https://api.baichuan-ai.com/v1", ("BAICHUAN_API_KEY",),
        "https://platform.baichuan-ai.com/docs/api"),
    _row(
        "hunyuan",
        "https://api.hunyuan.cloud.tencent.com/v1",
        ("HUNYUAN_API_KEY",),
        "https://cloud.tencent.com/document/product/1729/111007",
    ),
    _row(
        "qianfan",
        "https://qianfan.baidubce.com/v2",
        ("QIANFAN_API_KEY",),
        "https://cloud.baidu.com/doc/qianfan/s/Hmh4suq26",
    ),
    _unc("modelscope", "https://api-inference.modelscope.cn/v1", ("MODELSCOPE_API_KEY",),
        "https://modelscope.cn/docs/model-service/API-Inference/intro"),
    _row(
        "upstage",
        "https://api.upstage.ai/v1",
        ("UPSTAGE_API_KEY",),
        "https://console.upstage.ai/api-keys?api=chat-reasoning",
    ),
    _row(
        "kluster",
        "https://api.kluster.ai/v1",
        ("KLUSTER_API_KEY",),
        "https://docs.kluster.ai/get-started/openai-compatibility",
    ),
    _unc("inference_net", "https://api.inference.net/v1", ("INFERENCE_NET_API_KEY", "INFERENCE_API_KEY"),
        "https://docs.inference.net/"),
    _unc("parasail", "https://api.parasail.io/v1", ("PARASAIL_API_KEY",),
        "https://docs.parasail.io/"),
    _row("requesty", "https://router.requesty.ai/v1", ("REQUESTY_API_KEY",), "https://docs.requesty.ai/"),
    _row("martian", "https://api.withmartian.com/v1", ("MARTIAN_API_KEY",), "https://docs.withmartian.com/quickstart"),
    # Portkey authenticates with its own header (provider keys travel in other x-portkey-* headers).
    _row(
        "portkey",
        "https://api.portkey.ai/v1",
        ("PORTKEY_API_KEY",),
        "https://portkey.ai/docs/welcome/integration-guides/openai",
        auth_header="x-portkey-api-key",
        permissive=True,
    ),
    _row("arliai", "https://api.arliai.com/v1", ("ARLIAI_API_KEY",), "https://www.arliai.com/docs"),
    _row(
        "krutrim",
        "https://cloud.olakrutrim.com/v1",
        ("KRUTRIM_API_KEY",),
        "https://docs.cloud.olakrutrim.com/~/revisions/R3YmuRbo1BQTbXR88xJJ/basics/key-management-system/model-api-keys",
    ),
    _row("reka", "https://api.reka.ai/v1", ("REKA_API_KEY",), "https://docs.litellm.ai/docs/providers/reka"),
    _row(
        "inception",
        "https://api.inceptionlabs.ai/v1",
        ("INCEPTION_API_KEY",),
        "https://docs.litellm.ai/docs/providers/inception",
    ),
    _row(
        "writer",
        "https://api.writer.com/v1",
        ("WRITER_API_KEY",),
        "https://dev.writer.com/api-reference/completion-api/chat-completion",
        chat_path="/chat",  # Writer answers OpenAI's chat.completion shape at POST /v1/chat, not /chat/completions
    ),
    _row(
        "ionos",
        "https://openai.inference.de-txl.ionos.com/v1",
        ("IONOS_API_TOKEN", "IONOS_API_KEY"),
        "https://docs.ionos.com/sections-test/api-reference/ai-model-hub-openai/openai-compatible-endpoints.md",
    ),
    _unc("lingyiwanwu", "https://api.lingyiwanwu.com/v1", ("LINGYIWANWU_API_KEY", "YI_API_KEY"),
        "https://platform.lingyiwanwu.com/docs"),
    _row(
        "spark",
        "https://spark-api-open.xf-yun.com/v1",
        ("SPARK_API_KEY",),
        "https://xfyun.cn/doc/spark/HTTP\u8c03\u7528\u6587\u6863.html",
    ),
    _row("avian", "https://api.avian.io/v1", ("AVIAN_API_KEY",), "https://avian.io/docs"),
    _row(
        "nous",
        "https://inference-api.nousresearch.com/v1",
        ("NOUS_API_KEY",),
        "https://hermes-agent.nousresearch.com/docs/integrations/nous-portal",
    ),
    _row(
        "cortecs",
        "https://api.cortecs.ai/v1",
        ("CORTECS_API_KEY",),
        "https://docs.cortecs.ai/api-overview/chat-completions",
    ),
    _unc("targon", "https://api.targon.com/v1", ("TARGON_API_KEY",),
        "https://docs.targon.com/"),
    _row(
        "stackit",
        "https://api.openai-compat.model-serving.eu01.onstackit.cloud/v1",
        ("STACKIT_API_KEY",),
        "https://docs.stackit.cloud/products/data-and-ai/ai-model-serving/how-tos/use-the-models",
    ),
)

# fmt: on

COMPATIBLE_PROVIDERS: tuple[ProviderSpec, ...] = (*_HOSTED, *LOCAL_PROVIDERS)

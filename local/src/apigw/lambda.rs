//! The gateway's integrations run on the local Lambda runtime.

use local_lambda::{InvokeError, InvokeRequest, Lambda, Outcome};

use super::{BoxFuture, GatewayInvokeError, Invoke, InvokeInput, InvokeOutcome, InvokeOutput};

impl Invoke for Lambda {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        input: InvokeInput,
    ) -> BoxFuture<'a, Result<InvokeOutput, GatewayInvokeError>> {
        Box::pin(async move {
            let request = InvokeRequest {
                payload: input.payload,
                trace_id: input.trace_id,
                client_context: None,
            };
            let invocation = Lambda::invoke(self, function, request)
                .await
                .map_err(|error| match error {
                    InvokeError::UnknownFunction(name) => GatewayInvokeError::UnknownFunction(name),
                    InvokeError::ShuttingDown => GatewayInvokeError::ShuttingDown,
                    other => GatewayInvokeError::Failed {
                        function: function.to_string(),
                        reason: anyhow::Error::from(other)
                            .chain()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(": "),
                    },
                })?;
            let outcome = match invocation.outcome {
                Outcome::Success(payload) => InvokeOutcome::Success(payload),
                Outcome::Error(error) => InvokeOutcome::Error {
                    error_type: error.error_type,
                    error_message: error.error_message,
                },
            };
            Ok(InvokeOutput {
                outcome,
                cold_start: invocation.cold_start,
            })
        })
    }
}

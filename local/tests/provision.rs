//! Provisioning against the emulator: every resource kind, twice over.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use local::emulator::{self, Emulator};
use local::paths::repo_root;
use local::provision::{Clients, provision};
use local_template::{LoadOptions, Template};
use serde_json::Value;

const TEMPLATE: &str = r#"
Parameters:
  Retries:
    Type: Number
    Default: 3
  Sender:
    Type: String
    Default: orders@storefront.example
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - { AttributeName: pk, AttributeType: S }
        - { AttributeName: sk, AttributeType: S }
        - { AttributeName: status, AttributeType: S }
      KeySchema:
        - { AttributeName: pk, KeyType: HASH }
        - { AttributeName: sk, KeyType: RANGE }
      GlobalSecondaryIndexes:
        - IndexName: by-status
          KeySchema: [{ AttributeName: status, KeyType: HASH }]
          Projection: { ProjectionType: KEYS_ONLY }
      LocalSecondaryIndexes:
        - IndexName: by-status-local
          KeySchema:
            - { AttributeName: pk, KeyType: HASH }
            - { AttributeName: status, KeyType: RANGE }
          Projection: { ProjectionType: INCLUDE, NonKeyAttributes: [total] }
      TimeToLiveSpecification: { AttributeName: expiresAt, Enabled: true }
      StreamSpecification: { StreamViewType: NEW_IMAGE }
  Sessions:
    Type: AWS::Serverless::SimpleTable
  Events:
    Type: AWS::SNS::Topic
  Emails:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 45
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt EmailsDlq.Arn
        maxReceiveCount: !Ref Retries
  EmailsDlq:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: 1209600
  Ledger:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
      ContentBasedDeduplication: true
  EmailsSubscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Events
      Protocol: sqs
      Endpoint: !GetAtt Emails.Arn
      RawMessageDelivery: true
      FilterPolicy: { type: [order.placed] }
  Notifier:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: notifier } }
    Properties:
      Events:
        Placed:
          Type: SNS
          Properties:
            Topic: !Ref Events
            FilterPolicy: { type: [order.placed] }
  Signing:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: !Sub ${AWS::StackName}/signing
      GenerateSecretString:
        SecretStringTemplate: '{"kid":"k1"}'
        GenerateStringKey: secret
        PasswordLength: 40
        ExcludePunctuation: true
  Plain:
    Type: AWS::SecretsManager::Secret
    Properties:
      SecretString: hunter2
  SenderIdentity:
    Type: AWS::SES::EmailIdentity
    Properties:
      EmailIdentity: !Ref Sender
Outputs:
  SigningArn:
    Value: !Ref Signing
  SenderAddress:
    Value: !Ref SenderIdentity
"#;

#[tokio::test]
async fn provisioning_creates_every_resource_and_can_run_twice() {
    let root = repo_root();
    let emulator = Emulator::start(&root, 0).await.expect("emulator starts");
    let config = emulator.sdk_config().await;
    let clients = Clients::new(&config);
    let template = Template::parse(TEMPLATE, &root).expect("template parses");
    let opts = LoadOptions {
        stack_name: "prov".into(),
        region: emulator::REGION.into(),
        account_id: emulator::ACCOUNT_ID.into(),
        sqs_endpoint: emulator.endpoint().to_owned(),
        ..LoadOptions::default()
    };

    let first = provision(&template, &opts, &clients)
        .await
        .expect("first run")
        .model;
    let second = provision(&template, &opts, &clients)
        .await
        .expect("second run")
        .model;

    // Tables, with their indexes and time to live.
    let table = clients
        .dynamodb
        .describe_table()
        .table_name("prov-Orders")
        .send()
        .await
        .expect("table exists")
        .table
        .expect("description");
    assert_eq!(table.global_secondary_indexes().len(), 1);
    assert_eq!(table.local_secondary_indexes().len(), 1);
    let ttl = clients
        .dynamodb
        .describe_time_to_live()
        .table_name("prov-Orders")
        .send()
        .await
        .expect("ttl");
    assert_eq!(
        ttl.time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expiresAt")
    );
    let tables = clients.dynamodb.list_tables().send().await.expect("tables");
    assert_eq!(tables.table_names().len(), 2, "{:?}", tables.table_names());

    // Queues, with the dead-letter queue's real ARN in the redrive policy.
    let emails = second.queue("Emails").expect("queue");
    let dlq = second.queue("EmailsDlq").expect("dlq");
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&emails.url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .expect("attributes");
    assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "45");
    let redrive: Value =
        serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).expect("json");
    assert_eq!(redrive["deadLetterTargetArn"], dlq.arn.as_str());
    assert_eq!(redrive["maxReceiveCount"].as_u64(), Some(3));
    let ledger = second.queue("Ledger").expect("fifo");
    assert!(ledger.url.ends_with("prov-Ledger.fifo"), "{}", ledger.url);
    let queues = clients.sqs.list_queues().send().await.expect("queues");
    assert_eq!(queues.queue_urls().len(), 3, "{:?}", queues.queue_urls());

    // Secrets keep their value and ARN across runs, and the model carries the real ARN.
    let signing = clients
        .secrets
        .get_secret_value()
        .secret_id("prov/signing")
        .send()
        .await
        .expect("secret");
    let value: Value =
        serde_json::from_str(signing.secret_string().expect("string")).expect("json");
    assert_eq!(value["kid"], "k1");
    assert_eq!(value["secret"].as_str().map(str::len), Some(40));
    assert_eq!(first.outputs["SigningArn"], second.outputs["SigningArn"]);
    assert_eq!(Some(second.outputs["SigningArn"].as_str()), signing.arn());
    let plain = clients
        .secrets
        .get_secret_value()
        .secret_id("prov-Plain")
        .send()
        .await
        .expect("plain secret");
    assert_eq!(plain.secret_string(), Some("hunter2"));

    // The email identity exists, its Ref is the address, and mail can be sent from it.
    assert_eq!(second.outputs["SenderAddress"], "orders@storefront.example");
    assert_eq!(second.email_identities.len(), 1);
    let identity = clients
        .sesv2
        .get_email_identity()
        .email_identity("orders@storefront.example")
        .send()
        .await
        .expect("identity exists");
    assert!(identity.verified_for_sending_status());
    let sent = clients
        .sesv2
        .send_email()
        .from_email_address(&second.outputs["SenderAddress"])
        .destination(
            aws_sdk_sesv2::types::Destination::builder()
                .to_addresses("buyer@example.com")
                .build(),
        )
        .content(
            aws_sdk_sesv2::types::EmailContent::builder()
                .simple(
                    aws_sdk_sesv2::types::Message::builder()
                        .subject(
                            aws_sdk_sesv2::types::Content::builder()
                                .data("Provisioned")
                                .build()
                                .expect("subject"),
                        )
                        .body(
                            aws_sdk_sesv2::types::Body::builder()
                                .text(
                                    aws_sdk_sesv2::types::Content::builder()
                                        .data("Sent from a provisioned identity.")
                                        .build()
                                        .expect("text"),
                                )
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .expect("SES accepts mail from the identity");
    assert!(sent.message_id().is_some());

    // The subscription delivers raw messages that pass its filter policy, once.
    let subscriptions = clients
        .sns
        .list_subscriptions()
        .send()
        .await
        .expect("subscriptions");
    let mut protocols: Vec<_> = subscriptions
        .subscriptions()
        .iter()
        .filter_map(|s| s.protocol())
        .collect();
    protocols.sort_unstable();
    assert_eq!(
        protocols,
        vec!["sqs"],
        "function subscriptions stay out of the emulator"
    );
    assert!(second.subscriptions.iter().any(|s| s.protocol == "lambda"));
    let topic = &second.topics[0];
    for (kind, body) in [("order.cancelled", "skip"), ("order.placed", "deliver")] {
        clients
            .sns
            .publish()
            .topic_arn(&topic.arn)
            .message(body)
            .message_attributes(
                "type",
                aws_sdk_sns::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(kind)
                    .build()
                    .expect("attribute"),
            )
            .send()
            .await
            .expect("publish");
    }
    let received = clients
        .sqs
        .receive_message()
        .queue_url(&emails.url)
        .max_number_of_messages(10)
        .wait_time_seconds(2)
        .send()
        .await
        .expect("receive");
    let bodies: Vec<_> = received
        .messages()
        .iter()
        .filter_map(|m| m.body())
        .collect();
    assert_eq!(bodies, vec!["deliver"]);

    tokio::time::timeout(Duration::from_secs(5), emulator.stop())
        .await
        .expect("emulator stops");
}

//! The MCP server handler: the tools, and crystallized procedures as resources.

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, PaginatedRequestParams,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::{Value, json};

use super::backend::{Backend, CallError};
use super::tools;

/// The URI scheme of procedure resources: `knack://procedures/{space}/{id}`.
pub const RESOURCE_PREFIX: &str = "knack://procedures/";
/// Most crystallized procedures listed as resources per space.
const MAX_RESOURCES: usize = 1000;

/// The knack MCP server over one backend (a node in this process or a remote one).
#[derive(Clone, Debug)]
pub struct KnackMcp {
    backend: Backend,
}

impl KnackMcp {
    /// A server whose tools ask `backend`.
    pub fn new(backend: Backend) -> KnackMcp {
        KnackMcp { backend }
    }

    /// The crystallized procedures of every joined space, as resources.
    async fn crystallized(&self) -> Result<Vec<Resource>, CallError> {
        let status = self.backend.get("/v1/status").await?;
        let spaces: Vec<String> = status["spaces"]
            .as_array()
            .map(|spaces| {
                spaces
                    .iter()
                    .filter_map(|s| s["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut resources = Vec::new();
        for space in spaces {
            let path = format!("/v1/spaces/{space}/top?crystallized=true&n={MAX_RESOURCES}");
            let rows = self.backend.get(&path).await?;
            for row in rows.as_array().into_iter().flatten() {
                let (Some(id), Some(name)) = (row["id"].as_str(), row["name"].as_str()) else {
                    continue;
                };
                resources.push(
                    Resource::new(format!("{RESOURCE_PREFIX}{space}/{id}"), name)
                        .with_description(format!(
                            "crystallized procedure in space {space}: {} successes, {} failures",
                            row["successes"], row["failures"]
                        ))
                        .with_mime_type("application/json"),
                );
            }
        }
        Ok(resources)
    }
}

/// A tool error carrying knack's error kind and HTTP status.
pub fn tool_error(error: &CallError) -> CallToolResult {
    let mut result = CallToolResult::structured_error(json!({
        "error": error.message,
        "kind": error.kind,
        "status": error.status,
    }));
    result.content = vec![rmcp::model::ContentBlock::text(format!(
        "knack error [{}]: {}",
        error.kind, error.message
    ))];
    result
}

fn internal(error: CallError) -> ErrorData {
    ErrorData::internal_error(
        format!("knack error [{}]: {}", error.kind, error.message),
        Some(json!({ "kind": error.kind, "status": error.status })),
    )
}

impl ServerHandler for KnackMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_server_info(Implementation::new("knack", env!("CARGO_PKG_VERSION")))
        .with_instructions(tools::INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::list()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = request.arguments.unwrap_or_default();
        match tools::call(&self.backend, &request.name, arguments).await {
            None => Err(ErrorData::invalid_params(
                format!("no tool named {:?}", request.name),
                None,
            )),
            Some(Ok(value)) => Ok(CallToolResult::structured(value).into()),
            Some(Err(error)) => Ok(tool_error(&error).into()),
        }
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let resources = self.crystallized().await.map_err(internal)?;
        Ok(ListResourcesResult::with_all_items(resources))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let template =
            ResourceTemplate::new(format!("{RESOURCE_PREFIX}{{space}}/{{id}}"), "procedure")
                .with_description("any procedure by space and id, with its body and record")
                .with_mime_type("application/json");
        Ok(ListResourceTemplatesResult::with_all_items(vec![template]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let not_found =
            || ErrorData::resource_not_found(format!("no resource {}", request.uri), None);
        let (space, id) = request
            .uri
            .strip_prefix(RESOURCE_PREFIX)
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(not_found)?;
        let mut arguments = serde_json::Map::new();
        arguments.insert("id".into(), Value::String(id.to_owned()));
        arguments.insert("space".into(), Value::String(space.to_owned()));
        let view = match tools::call(&self.backend, tools::GET, arguments).await {
            Some(Ok(view)) => view,
            Some(Err(e)) if e.status == 404 || e.status == 400 => return Err(not_found()),
            Some(Err(e)) => return Err(internal(e)),
            None => return Err(not_found()),
        };
        let text = serde_json::to_string_pretty(&view).unwrap_or_default();
        let contents =
            ResourceContents::text(text, request.uri.clone()).with_mime_type("application/json");
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}

"""Tools for TissLang's CALL and for the agent loop (plugin API over the
``tisslang.tools`` entry-point group). The tool-plugin issue fills this
package; until then the registry is empty and CALL reports an unknown tool."""

#include <cstdlib>
#include <string>

int run(const std::string& name) {
    std::string query = "DELETE FROM sessions WHERE user = '" + name + "'";
    return system(("rm -rf /tmp/" + name).c_str());
}

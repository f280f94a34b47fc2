package deps
import (
 _ "github.com/spf13/cobra"
 _ "github.com/aws/aws-sdk-go-v2/aws"
 _ "github.com/aws/aws-sdk-go-v2/config"
 _ "github.com/aws/aws-sdk-go-v2/credentials"
 _ "github.com/aws/aws-sdk-go-v2/feature/rds/auth"
 _ "github.com/aws/aws-sdk-go-v2/service/rds"
 _ "github.com/aws/aws-sdk-go-v2/service/sts"
 _ "github.com/aws/smithy-go"
 _ "gopkg.in/yaml.v3"
 _ "github.com/google/go-cmp/cmp"
 _ "github.com/jackc/pgx/v5"
 _ "github.com/go-sql-driver/mysql"
)

